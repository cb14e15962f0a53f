#!/usr/bin/env python3
"""Mark one version-needed entry (default GLIBCXX_3.4.32) of an ELF64 shared library as weak (VER_FLG_WEAK).

Why: TorchSharp 0.107.0's libLibTorchSharp.so was linked against GCC 13's libstdc++ and lists GLIBCXX_3.4.32 in
its .gnu.version_r section; Debian 12's libstdc++.so.6 (GCC 12) stops at GLIBCXX_3.4.30, so dlopen fails with
  libstdc++.so.6: version `GLIBCXX_3.4.32' not found (required by .../libLibTorchSharp.so)
The only symbol bound to that version is std::ios_base_library_init() (_ZSt21ios_base_library_initv), which GCC 13's
<iostream> references without any relocation (a link-time anchor), so nothing is ever looked up under that version.
With the entry flagged weak, glibc's loader no longer treats the missing version as fatal (dl-version.c:
match_symbol returns 0 for a weak need), and the library loads.

The script refuses to patch if any dynamic relocation refers to a symbol of that version (then weakening would
only move the failure to an "undefined symbol" at bind time). It is idempotent.

usage: weaken_glibcxx_need.py PATH/libLibTorchSharp.so [VERSION]
"""
import struct
import sys

SHT_DYNSYM = 11
SHT_RELA = 4
SHT_GNU_VERNEED = 0x6FFFFFFE
SHT_GNU_VERSYM = 0x6FFFFFFF
VER_FLG_WEAK = 0x2


def main(path, version="GLIBCXX_3.4.32"):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.exit(f"{path}: not a little-endian ELF64 file")
    e_shoff, = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    sections = []
    for i in range(e_shnum):
        name, stype, _flags, _addr, offset, size, link, _info, _align, entsize = struct.unpack_from(
            "<IIQQQQIIQQ", data, e_shoff + i * e_shentsize)
        sections.append(dict(type=stype, offset=offset, size=size, link=link, entsize=entsize))

    def cstr(off):
        return data[off:data.index(b"\0", off)].decode()

    verneed = next((s for s in sections if s["type"] == SHT_GNU_VERNEED), None)
    if verneed is None:
        sys.exit(f"{path}: no .gnu.version_r section")
    strtab = sections[verneed["link"]]["offset"]

    # Walk Elf64_Verneed (vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32)
    # and its Elf64_Vernaux (vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32).
    found = None
    vn = verneed["offset"]
    while True:
        _ver, cnt, vn_file, vn_aux, vn_next = struct.unpack_from("<HHIII", data, vn)
        aux = vn + vn_aux
        for _ in range(cnt):
            _hash, flags, other, name, vna_next = struct.unpack_from("<IHHII", data, aux)
            if cstr(strtab + name) == version:
                found = (aux, flags, other, cstr(strtab + vn_file))
            aux += vna_next
        if vn_next == 0:
            break
        vn += vn_next
    if found is None:
        print(f"{path}: needs no {version}; nothing to do")
        return
    aux, flags, index, needed_file = found

    # Which dynamic symbols carry that version index, and does any relocation use them?
    versym = next(s for s in sections if s["type"] == SHT_GNU_VERSYM)
    dynsym = next(s for s in sections if s["type"] == SHT_DYNSYM)
    dynstr = sections[dynsym["link"]]["offset"]
    nsyms = dynsym["size"] // 24
    tagged = set()
    for i in range(nsyms):
        v, = struct.unpack_from("<H", data, versym["offset"] + 2 * i)
        if (v & 0x7FFF) == index:
            tagged.add(i)
    names = [cstr(dynstr + struct.unpack_from("<I", data, dynsym["offset"] + 24 * i)[0]) for i in sorted(tagged)]
    used = set()
    for s in sections:
        if s["type"] == SHT_RELA and s["link"] == sections.index(dynsym):
            for r in range(s["size"] // 24):
                _off, info, _add = struct.unpack_from("<QQq", data, s["offset"] + 24 * r)
                if (info >> 32) in tagged:
                    used.add(info >> 32)
    print(f"{path}: {needed_file} {version} (version index {index}) at file offset 0x{aux:x}, flags 0x{flags:x}; "
          f"symbols with that version: {', '.join(names) or '(none)'}; referenced by relocations: {len(used)}")
    if used:
        sys.exit("refusing: a relocation binds a symbol of that version, weakening the need would not help")
    if flags & VER_FLG_WEAK:
        print("already weak; nothing to do")
        return
    struct.pack_into("<H", data, aux + 4, flags | VER_FLG_WEAK)
    with open(path, "r+b") as f:
        f.seek(aux + 4)
        f.write(struct.pack("<H", flags | VER_FLG_WEAK))
    print(f"patched: vna_flags at file offset 0x{aux + 4:x} set to 0x{flags | VER_FLG_WEAK:x} (VER_FLG_WEAK)")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(*sys.argv[1:])
