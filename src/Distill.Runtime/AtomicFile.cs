using System.Runtime.InteropServices;
using System.Text;

namespace Distill.Runtime;

/// <summary>
/// Crash-safe file replacement: write a temporary file in the same directory, flush it to disk, rename
/// it over the target (atomic on POSIX file systems), then flush the directory so the rename itself
/// survives a power loss. A reader sees the old file or the new one, never a mixture.
/// </summary>
internal static partial class AtomicFile
{
    /// <summary>The prefix of every temporary file this class creates (so leftovers can be recognised and removed).</summary>
    public const string TempPrefix = ".tmp-";

    public static void WriteAllText(string path, string text) => WriteAllBytes(path, Encoding.UTF8.GetBytes(text));

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $"{TempPrefix}{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
        SyncDirectory(directory);
    }

    /// <summary>Removes temporary files a crashed writer left in <paramref name="directory"/>.</summary>
    public static void RemoveLeftovers(string directory)
    {
        if (!Directory.Exists(directory)) return;
        foreach (var f in Directory.EnumerateFiles(directory, TempPrefix + "*")) TryDelete(f);
        // Safetensors.Save's own temporaries: ".<name>.<pid>.<guid>.tmp".
        foreach (var f in Directory.EnumerateFiles(directory, ".*.tmp")) TryDelete(f);
    }

    public static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>
    /// fsync on the directory, so that renames and new entries in it are durable. Best effort: where the
    /// platform offers no way (Windows, or libc not found), the rename is still atomic, just not yet durable.
    /// </summary>
    public static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD()) return;
        try
        {
            var fd = OperatingSystem.IsLinux() ? LinuxOpen(directory, 0) : PosixOpen(directory, 0);
            if (fd < 0) return;
            try { _ = OperatingSystem.IsLinux() ? LinuxFsync(fd) : PosixFsync(fd); }
            finally { _ = OperatingSystem.IsLinux() ? LinuxClose(fd) : PosixClose(fd); }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    // glibc's "libc.so" is a linker script that dlopen cannot load: name the real library on Linux.
    [LibraryImport("libc.so.6", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LinuxOpen(string path, int flags);

    [LibraryImport("libc.so.6", EntryPoint = "fsync")]
    private static partial int LinuxFsync(int fd);

    [LibraryImport("libc.so.6", EntryPoint = "close")]
    private static partial int LinuxClose(int fd);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int PosixOpen(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int PosixFsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int PosixClose(int fd);
}
