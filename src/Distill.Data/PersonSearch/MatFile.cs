using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Distill.Data;

/// <summary>A value of a MATLAB file: numeric or logical array, text, cell array or struct array (dimensions column-major, as MATLAB's).</summary>
public abstract record MatValue(IReadOnlyList<int> Dimensions)
{
    /// <summary>The number of elements (the product of the dimensions).</summary>
    public int Count => Dimensions.Aggregate(1, (a, d) => a * d);
}

/// <summary>A numeric or logical array, its values as doubles in MATLAB's column-major order; <see cref="Class"/> is MATLAB's class name.</summary>
public sealed record MatNumeric(IReadOnlyList<int> Dimensions, string Class, double[] Values) : MatValue(Dimensions)
{
    /// <summary>Element (row, column) of a 2-d array.</summary>
    public double this[int row, int column] => Values[row + column * Dimensions[0]];
}

/// <summary>A char array: its rows as strings (a 1 × n char array is one string).</summary>
public sealed record MatText(IReadOnlyList<int> Dimensions, IReadOnlyList<string> Rows) : MatValue(Dimensions)
{
    public string Text => string.Join("\n", Rows);
}

/// <summary>A cell array, its cells column-major.</summary>
public sealed record MatCell(IReadOnlyList<int> Dimensions, IReadOnlyList<MatValue> Cells) : MatValue(Dimensions);

/// <summary>A struct array: its field names, and per element (column-major) a value per field.</summary>
public sealed record MatStruct(IReadOnlyList<int> Dimensions, IReadOnlyList<string> Fields, IReadOnlyList<IReadOnlyDictionary<string, MatValue>> Elements) : MatValue(Dimensions)
{
    /// <summary>Field <paramref name="field"/> of element <paramref name="index"/>, or a clear error naming what exists.</summary>
    public MatValue Field(int index, string field) =>
        Elements[index].TryGetValue(field, out var v) ? v
        : throw new KeyNotFoundException($"the struct has no field '{field}' (its fields: {string.Join(", ", Fields)})");
}

/// <summary>
/// A reader of MATLAB's level-5 MAT-files (the format of <c>save</c> since MATLAB 5, <c>-v7</c> with compression, and of
/// scipy's <c>savemat</c>), which is how CUHK-SYSU and PRW distribute their annotations and protocols: numeric and logical
/// arrays of every class, char arrays, cell arrays and struct arrays, compressed or not, either byte order. Complex,
/// sparse and object arrays and the HDF5-based v7.3 format are not read (a clear error names them). Reading errors are
/// <see cref="DatasetException"/>s naming the file, the variable and the byte offset.
/// </summary>
public static class MatFile
{
    private const int MiInt8 = 1, MiUInt8 = 2, MiInt16 = 3, MiUInt16 = 4, MiInt32 = 5, MiUInt32 = 6, MiSingle = 7, MiDouble = 9,
        MiInt64 = 12, MiUInt64 = 13, MiMatrix = 14, MiCompressed = 15, MiUtf8 = 16, MiUtf16 = 17, MiUtf32 = 18;

    private static readonly string?[] ClassNames =
        [null, "cell", "struct", "object", "char", "sparse", "double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"];

    /// <summary>The variables of the file at <paramref name="path"/>, by name, in file order.</summary>
    public static IReadOnlyDictionary<string, MatValue> Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new DatasetException($"MAT-file '{path}' does not exist", path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (IOException e)
        {
            throw new DatasetException($"MAT-file '{path}' cannot be read: {e.Message}", path, inner: e);
        }
        return Read(bytes, path);
    }

    /// <summary>The variables of a MAT-file's bytes (<paramref name="path"/> names it in errors).</summary>
    public static IReadOnlyDictionary<string, MatValue> Read(byte[] bytes, string path)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length < 128) throw new DatasetException($"MAT-file '{path}' is {bytes.Length} bytes, shorter than the 128-byte header", path);
        var text = Encoding.ASCII.GetString(bytes, 0, 116);
        bool little = bytes[126] == (byte)'I' && bytes[127] == (byte)'M';
        if (!little && !(bytes[126] == (byte)'M' && bytes[127] == (byte)'I'))
            throw new DatasetException($"MAT-file '{path}' has no level-5 header (its first bytes read \"{Printable(text[..Math.Min(20, text.Length)])}\")", path);
        if (text.Contains("MATLAB 7.3", StringComparison.Ordinal))
            throw new DatasetException($"MAT-file '{path}' is MATLAB 7.3 (HDF5), which this reader does not read: save it with -v7", path);
        var variables = new Dictionary<string, MatValue>(StringComparer.Ordinal);
        var reader = new Reader(bytes, 128, bytes.Length, little, path, null);
        while (reader.Position < bytes.Length)
        {
            var start = reader.Position;
            var (type, length, data) = reader.Element();
            if (type == MiCompressed)
            {
                var inflated = Inflate(bytes, data, length, path, start);
                var inner = new Reader(inflated, 0, inflated.Length, little, path, start);
                var (innerType, innerLength, innerData) = inner.Element();
                if (innerType != MiMatrix) throw reader.Error(start, $"a compressed element holds type {innerType}, not a matrix");
                var (name, value) = inner.Matrix(innerData, innerLength);
                variables[name] = value;
            }
            else if (type == MiMatrix)
            {
                var (name, value) = reader.Matrix(data, length);
                variables[name] = value;
            }
            else throw reader.Error(start, $"a top-level element of type {type}, not a matrix");
        }
        return variables;
    }

    private static byte[] Inflate(byte[] bytes, int offset, int length, string path, int at)
    {
        try
        {
            using var input = new MemoryStream(bytes, offset, length);
            using var z = new ZLibStream(input, CompressionMode.Decompress);
            using var output = new MemoryStream();
            z.CopyTo(output);
            return output.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new DatasetException($"MAT-file '{path}': the compressed element at byte {at} is not valid zlib data ({e.Message})", path, at, e);
        }
    }

    private static string Printable(string s) => new(s.Select(c => c is >= ' ' and < (char)127 ? c : '?').ToArray());

    /// <summary>Reads data elements from <c>bytes[position..end)</c>; offsets in errors are the file's (a compressed block's own offset when inside one).</summary>
    private sealed class Reader(byte[] bytes, int position, int end, bool little, string path, int? compressedAt)
    {
        public int Position { get; private set; } = position;

        public DatasetException Error(int at, string what) =>
            new($"MAT-file '{path}': {what} (at byte {at}{(compressedAt is { } c ? $" of the compressed element at byte {c}" : "")})", path, at);

        private uint U32(int at) => little ? BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at)) : BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(at));

        /// <summary>The next element: its type, byte length and where its data starts; advances past it and its padding.</summary>
        public (int Type, int Length, int Data) Element()
        {
            var at = Position;
            if (end - at < 8) throw Error(at, $"{end - at} bytes left, too few for an element tag");
            var first = U32(at);
            if (first >> 16 != 0)
            {
                // Small data element: type and length in the first four bytes, up to four bytes of data in the next.
                var smallLength = (int)(first >> 16);
                if (smallLength > 4) throw Error(at, $"a small element of {smallLength} bytes (at most 4)");
                Position = at + 8;
                return ((int)(first & 0xFFFF), smallLength, at + 4);
            }
            var length = U32(at + 4);
            if (length > (uint)(end - at - 8)) throw Error(at, $"an element of {length} bytes where {end - at - 8} remain");
            var type = (int)first;
            // Compressed elements are not padded; every other element is, to a multiple of 8 bytes.
            var padded = type == MiCompressed ? (int)length : ((int)length + 7) & ~7;
            Position = Math.Min(end, at + 8 + padded);
            return (type, (int)length, at + 8);
        }

        /// <summary>A matrix element's name and value, from its data (<paramref name="data"/>, <paramref name="length"/> bytes).</summary>
        public (string Name, MatValue Value) Matrix(int data, int length)
        {
            if (length == 0) return ("", new MatNumeric([0, 0], "double", [])); // an empty cell: []
            var sub = new Reader(bytes, data, data + length, little, path, compressedAt);
            var (flagsType, flagsLength, flagsData) = sub.Element();
            if (flagsType != MiUInt32 || flagsLength != 8) throw Error(data, "a matrix without its array flags");
            var flags = U32(flagsData);
            var mxClass = (int)(flags & 0xFF);
            var complex = (flags & 0x800) != 0;
            var logical = (flags & 0x200) != 0;
            var (dimsType, dimsLength, dimsData) = sub.Element();
            if (dimsType != MiInt32 || dimsLength % 4 != 0 || dimsLength == 0) throw Error(data, "a matrix without its dimensions");
            var dims = Enumerable.Range(0, dimsLength / 4).Select(i => (int)U32(dimsData + 4 * i)).ToArray();
            if (dims.Any(d => d < 0)) throw Error(data, $"negative dimensions [{string.Join(", ", dims)}]");
            var (nameType, nameLength, nameData) = sub.Element();
            if (nameType != MiInt8) throw Error(data, "a matrix without its name");
            var name = Encoding.ASCII.GetString(bytes, nameData, nameLength);
            var className = mxClass < ClassNames.Length ? ClassNames[mxClass] : null;
            var what = name.Length > 0 ? $"variable '{name}'" : "an element";
            if (className is null || mxClass is 3 or 5)
                throw Error(data, $"{what} is of MATLAB class {className ?? mxClass.ToString(System.Globalization.CultureInfo.InvariantCulture)}, which this reader does not read");
            if (complex) throw Error(data, $"{what} is complex, which this reader does not read");
            long count = dims.Aggregate(1L, (a, d) => a * d);
            switch (mxClass)
            {
                case 1:
                {
                    var cells = new List<MatValue>();
                    for (var i = 0; i < count; i++)
                    {
                        var (t, l, d) = sub.Element();
                        if (t != MiMatrix) throw Error(d - 8, $"cell {i} of {what} is not a matrix");
                        cells.Add(sub.Matrix(d, l).Value);
                    }
                    return (name, new MatCell(dims, cells));
                }
                case 2:
                {
                    var (lt, ll, ld) = sub.Element();
                    if (lt != MiInt32 || ll != 4) throw Error(data, $"{what}: a struct without its field-name length");
                    var fieldLength = (int)U32(ld);
                    var (nt, nl, nd) = sub.Element();
                    if (nt != MiInt8 || fieldLength <= 0 || nl % fieldLength != 0) throw Error(data, $"{what}: a struct without its field names");
                    var fields = Enumerable.Range(0, nl / fieldLength)
                        .Select(i => Encoding.ASCII.GetString(bytes, nd + i * fieldLength, fieldLength).TrimEnd('\0')).ToArray();
                    var elements = new List<IReadOnlyDictionary<string, MatValue>>();
                    for (var i = 0; i < count; i++)
                    {
                        var element = new Dictionary<string, MatValue>(StringComparer.Ordinal);
                        foreach (var field in fields)
                        {
                            var (t, l, d) = sub.Element();
                            if (t != MiMatrix) throw Error(d - 8, $"field '{field}' of element {i} of {what} is not a matrix");
                            element[field] = sub.Matrix(d, l).Value;
                        }
                        elements.Add(element);
                    }
                    return (name, new MatStruct(dims, fields, elements));
                }
                case 4:
                {
                    var (t, l, d) = sub.Element();
                    var chars = Characters(t, l, d, what);
                    if (chars.Length != count) throw Error(d, $"{what}: {chars.Length} characters for dimensions [{string.Join(", ", dims)}]");
                    var rows = dims.Length == 2 && dims[0] > 0
                        ? Enumerable.Range(0, dims[0]).Select(r => new string(Enumerable.Range(0, dims[1]).Select(c => chars[r + c * dims[0]]).ToArray())).ToArray()
                        : [];
                    return (name, new MatText(dims, rows));
                }
                default:
                {
                    var (t, l, d) = sub.Element();
                    var values = Numbers(t, l, d, what);
                    if (values.Length != count) throw Error(d, $"{what}: {values.Length} values for dimensions [{string.Join(", ", dims)}]");
                    return (name, new MatNumeric(dims, logical ? "logical" : className, values));
                }
            }
        }

        private double[] Numbers(int type, int length, int at, string what)
        {
            var size = type switch { MiInt8 or MiUInt8 => 1, MiInt16 or MiUInt16 => 2, MiInt32 or MiUInt32 or MiSingle => 4, MiDouble or MiInt64 or MiUInt64 => 8, _ => 0 };
            if (size == 0) throw Error(at, $"{what}: values of data type {type}, not a number type");
            if (length % size != 0) throw Error(at, $"{what}: {length} bytes of {size}-byte values");
            var values = new double[length / size];
            var span = bytes.AsSpan(at, length);
            for (var i = 0; i < values.Length; i++)
            {
                var s = span.Slice(i * size, size);
                values[i] = type switch
                {
                    MiInt8 => (sbyte)s[0],
                    MiUInt8 => s[0],
                    MiInt16 => little ? BinaryPrimitives.ReadInt16LittleEndian(s) : BinaryPrimitives.ReadInt16BigEndian(s),
                    MiUInt16 => little ? BinaryPrimitives.ReadUInt16LittleEndian(s) : BinaryPrimitives.ReadUInt16BigEndian(s),
                    MiInt32 => little ? BinaryPrimitives.ReadInt32LittleEndian(s) : BinaryPrimitives.ReadInt32BigEndian(s),
                    MiUInt32 => little ? BinaryPrimitives.ReadUInt32LittleEndian(s) : BinaryPrimitives.ReadUInt32BigEndian(s),
                    MiSingle => little ? BinaryPrimitives.ReadSingleLittleEndian(s) : BinaryPrimitives.ReadSingleBigEndian(s),
                    MiDouble => little ? BinaryPrimitives.ReadDoubleLittleEndian(s) : BinaryPrimitives.ReadDoubleBigEndian(s),
                    MiInt64 => little ? BinaryPrimitives.ReadInt64LittleEndian(s) : BinaryPrimitives.ReadInt64BigEndian(s),
                    _ => little ? BinaryPrimitives.ReadUInt64LittleEndian(s) : BinaryPrimitives.ReadUInt64BigEndian(s),
                };
            }
            return values;
        }

        private char[] Characters(int type, int length, int at, string what) => type switch
        {
            MiUtf8 => Encoding.UTF8.GetString(bytes, at, length).ToCharArray(),
            MiUtf16 or MiUInt16 => (little ? Encoding.Unicode : Encoding.BigEndianUnicode).GetString(bytes, at, length).ToCharArray(),
            MiUtf32 => (little ? new UTF32Encoding(false, false) : new UTF32Encoding(true, false)).GetString(bytes, at, length).ToCharArray(),
            MiInt8 or MiUInt8 => Encoding.Latin1.GetString(bytes, at, length).ToCharArray(),
            _ => throw Error(at, $"{what}: characters of data type {type}"),
        };
    }
}
