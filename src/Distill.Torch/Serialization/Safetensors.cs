using System.Buffers.Binary;
using System.Text.Json;
using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

/// <summary>
/// The safetensors format (our own reader and writer): an 8-byte little-endian header length, a JSON
/// header mapping each name to <c>{dtype, shape, data_offsets}</c> (plus optional string
/// <c>__metadata__</c>), then the raw little-endian tensor bytes. Files written by Python's
/// <c>safetensors</c> load here and ours load there.
/// </summary>
public static class Safetensors
{
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    /// <summary>A loaded file: tensors in file order and the free-form string metadata.</summary>
    public sealed class Content : IDisposable
    {
        internal Content(List<KeyValuePair<string, Tensor>> tensors, Dictionary<string, string> metadata)
        {
            Tensors = tensors;
            Metadata = metadata;
        }

        public IReadOnlyList<KeyValuePair<string, Tensor>> Tensors { get; }
        public IReadOnlyDictionary<string, string> Metadata { get; }

        public Tensor this[string name] =>
            Tensors.FirstOrDefault(kv => kv.Key == name).Value
            ?? throw new KeyNotFoundException($"no tensor named '{name}' (have: {string.Join(", ", Tensors.Select(kv => kv.Key).Take(20))})");

        public Dictionary<string, Tensor> ToDictionary() => Tensors.ToDictionary(kv => kv.Key, kv => kv.Value);

        public void Dispose()
        {
            foreach (var kv in Tensors) kv.Value.Dispose();
        }
    }

    /// <summary>Loads every tensor of a file onto the CPU, in file order.</summary>
    public static Dictionary<string, Tensor> Load(string path) => Read(path).ToDictionary();

    /// <summary>Loads a file with its metadata. A malformed or truncated file is a <see cref="TorchException"/> naming it.</summary>
    public static Content Read(string path)
    {
        using var stream = OpenRead(path);
        var fileLength = stream.Length;
        Span<byte> lengthBytes = stackalloc byte[8];
        if (stream.ReadAtLeast(lengthBytes, 8, throwOnEndOfStream: false) < 8)
            throw Error(path, $"the file has {fileLength} bytes, fewer than the 8-byte header length");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > (ulong)MaxHeaderBytes || 8 + (long)headerLength > fileLength)
            throw Error(path, $"the header length {headerLength} does not fit a file of {fileLength} bytes (truncated or not safetensors)");
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        var dataStart = 8 + (long)headerLength;
        var dataLength = fileLength - dataStart;

        var entries = ParseHeader(path, header, dataLength, out var metadata);
        var tensors = new List<KeyValuePair<string, Tensor>>(entries.Count);
        try
        {
            foreach (var e in entries.OrderBy(e => e.Begin))
            {
                var t = torch.empty(e.Shape, e.DType);
                tensors.Add(new(e.Name, t));
                var nbytes = e.End - e.Begin;
                if (nbytes == 0) continue;
                Check(dst_tensor_data_ptr(t.Handle, out var ptr));
                stream.Position = dataStart + e.Begin;
                unsafe
                {
                    var span = new Span<byte>((void*)ptr, checked((int)nbytes));
                    if (stream.ReadAtLeast(span, span.Length, throwOnEndOfStream: false) < span.Length)
                        throw Error(path, $"tensor '{e.Name}' is truncated");
                }
            }
        }
        catch
        {
            foreach (var kv in tensors) kv.Value.Dispose();
            throw;
        }
        // Keep the header's order (the order the writer chose), not the data order.
        var order = entries.Select((e, i) => (e.Name, i)).ToDictionary(x => x.Name, x => x.i);
        tensors.Sort((a, b) => order[a.Key].CompareTo(order[b.Key]));
        return new Content(tensors, metadata);
    }

    /// <summary>
    /// Writes tensors (any device; stored contiguous, little-endian, on the CPU) atomically: a temporary
    /// file in the same directory is renamed over <paramref name="path"/>, so a crash never leaves a half file.
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var items = tensors.ToList();
        var names = new HashSet<string>();
        foreach (var kv in items)
        {
            if (!names.Add(kv.Key)) throw new TorchException($"safetensors: duplicate tensor name '{kv.Key}'", ErrorCategory.Value);
            if (kv.Key == "__metadata__") throw new TorchException("safetensors: '__metadata__' is reserved", ErrorCategory.Value);
        }

        // Header first: offsets follow from the sizes.
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var kv in metadata) w.WriteString(kv.Key, kv.Value);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t) in items)
            {
                var nbytes = t.numel() * t.element_size();
                w.WriteStartObject(name);
                w.WriteString("dtype", Code(t.dtype));
                w.WriteStartArray("shape");
                foreach (var s in t.shape) w.WriteNumberValue(s);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + nbytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += nbytes;
            }
            w.WriteEndObject();
        }
        // Pad the header with spaces to 8 bytes so the data is aligned (as the reference writer does).
        var headerLength = buffer.WrittenCount;
        var padded = (headerLength + 7) / 8 * 8;

        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> lengthBytes = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(lengthBytes, (ulong)padded);
                stream.Write(lengthBytes);
                stream.Write(buffer.WrittenSpan);
                for (var k = headerLength; k < padded; k++) stream.WriteByte((byte)' ');
                foreach (var (_, t) in items)
                {
                    var bytes = new byte[t.numel() * t.element_size()];
                    if (bytes.Length == 0) continue;
                    unsafe
                    {
                        fixed (byte* p = bytes) Check(dst_tensor_copy_to(t.Handle, (int)t.dtype, p, bytes.Length));
                    }
                    stream.Write(bytes);
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw;
        }
    }

    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        Save(path, tensors.AsEnumerable(), metadata);

    private sealed record Entry(string Name, ScalarType DType, long[] Shape, long Begin, long End);

    private static List<Entry> ParseHeader(string path, byte[] header, long dataLength, out Dictionary<string, string> metadata)
    {
        metadata = new Dictionary<string, string>();
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw Error(path, $"the header is not valid JSON ({e.Message})");
        }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Error(path, "the header is not a JSON object");
        var entries = new List<Entry>();
        foreach (var property in doc.RootElement.EnumerateObject())
        {
            if (property.Name == "__metadata__")
            {
                if (property.Value.ValueKind != JsonValueKind.Object) throw Error(path, "'__metadata__' must be an object of strings");
                foreach (var m in property.Value.EnumerateObject())
                    metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : throw Error(path, $"metadata '{m.Name}' must be a string");
                continue;
            }
            entries.Add(ParseEntry(path, property, dataLength));
        }
        // Byte ranges must tile the data without overlap.
        long expected = 0;
        foreach (var e in entries.OrderBy(e => e.Begin))
        {
            if (e.Begin != expected) throw Error(path, $"tensor '{e.Name}' starts at byte {e.Begin}, expected {expected} (overlapping or gapped data)");
            expected = e.End;
        }
        if (expected > dataLength) throw Error(path, $"the data section has {dataLength} bytes but the header describes {expected} (truncated file)");
        return entries;
    }

    private static Entry ParseEntry(string path, JsonProperty property, long dataLength)
    {
        var name = property.Name;
        var v = property.Value;
        if (v.ValueKind != JsonValueKind.Object) throw Error(path, $"tensor '{name}': expected an object with dtype, shape and data_offsets");
        if (!v.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String)
            throw Error(path, $"tensor '{name}': missing string 'dtype'");
        var dtype = FromCode(dtypeEl.GetString()!) ?? throw Error(path, $"tensor '{name}': unsupported dtype '{dtypeEl.GetString()}' (expected F64, F32, F16, BF16, I64, I32, I16, I8, U8 or BOOL)");
        if (!v.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array)
            throw Error(path, $"tensor '{name}': missing array 'shape'");
        var shape = new long[shapeEl.GetArrayLength()];
        var k = 0;
        foreach (var s in shapeEl.EnumerateArray())
        {
            if (s.ValueKind != JsonValueKind.Number || !s.TryGetInt64(out var size) || size < 0)
                throw Error(path, $"tensor '{name}': shape entries must be non-negative integers");
            shape[k++] = size;
        }
        if (!v.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw Error(path, $"tensor '{name}': missing 'data_offsets' [begin, end]");
        var begin = offEl[0].TryGetInt64(out var b) ? b : -1;
        var end = offEl[1].TryGetInt64(out var en) ? en : -1;
        if (begin < 0 || end < begin) throw Error(path, $"tensor '{name}': invalid data_offsets [{offEl[0]}, {offEl[1]}]");
        long elements = 1;
        foreach (var s in shape) elements = checked(elements * s);
        var nbytes = elements * dtype.ElementSize();
        if (end - begin != nbytes)
            throw Error(path, $"tensor '{name}': shape [{string.Join(", ", shape)}] of {dtype.Name()} needs {nbytes} bytes but data_offsets span {end - begin}");
        if (end > dataLength) throw Error(path, $"tensor '{name}': data ends at byte {end} but the file holds {dataLength} data bytes (truncated file)");
        return new Entry(name, dtype, shape, begin, end);
    }

    private static FileStream OpenRead(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TorchException($"safetensors: cannot open '{path}': {e.Message}", ErrorCategory.Value, e);
        }
    }

    private static TorchException Error(string path, string what) =>
        new($"safetensors file '{path}': {what}", ErrorCategory.Value);

    /// <summary>The format's dtype codes.</summary>
    public static string Code(ScalarType t) => t switch
    {
        ScalarType.Float64 => "F64",
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new TorchException($"safetensors cannot store {t.Name()}", ErrorCategory.Type),
    };

    private static ScalarType? FromCode(string code) => code switch
    {
        "F64" => ScalarType.Float64,
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => null,
    };
}
