using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace Mlx.Formats.Internal;

/// <summary>
/// Reads a .safetensors header with Utf8JsonReader (no serializer) and applies the Rust crate's rules:
/// 8-byte little-endian header length, header at most 100,000,000 bytes starting with '{', duplicate keys
/// refused, tensors sorted by offset must tile the data region exactly (no gaps, overlaps or trailing bytes),
/// and every byte count equal to dtype size times the shape product.
/// </summary>
internal static class SafetensorsReader
{
    /// <summary>The Rust crate's MAX_HEADER_SIZE.</summary>
    public const long HardMaxHeader = 100_000_000;

    private const ModelFileFormat Format = ModelFileFormat.Safetensors;

    private sealed class Info
    {
        public string? DType;
        public long[]? Shape;
        public long Start = -1;
        public long End = -1;
    }

    public static (IReadOnlyDictionary<string, MetadataValue>, List<TensorEntry>) Read(SafeFileHandle handle, long length, LoadLimits limits)
    {
        var cursor = new FileCursor(handle, length, Format);
        ulong declared = cursor.ReadU64("the header length");
        long maxHeader = Math.Min(HardMaxHeader, limits.MaxHeaderBytes);
        if (declared > (ulong)maxHeader)
        {
            throw new ModelFormatException(Format, $"header length {declared} is over the limit of {maxHeader} bytes (LoadLimits.MaxHeaderBytes)", 0);
        }
        long headerLength = (long)declared;
        if (headerLength > length - 8)
        {
            throw new ModelFormatException(Format, $"header length {headerLength} runs past the end of the file ({length} bytes)", 0);
        }
        byte[] header = cursor.ReadBytes(headerLength, "the JSON header");
        if (header.Length == 0 || header[0] != (byte)'{')
        {
            throw new ModelFormatException(Format, "the header does not start with '{'", 8);
        }
        if (!System.Text.Unicode.Utf8.IsValid(header))
        {
            throw new ModelFormatException(Format, "the header is not valid UTF-8", 8);
        }
        var metadata = new Dictionary<string, MetadataValue>(StringComparer.Ordinal);
        var infos = new List<(string Name, Info Info)>();
        try
        {
            Parse(header, limits, metadata, infos);
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(Format, $"the header is not valid JSON: {FirstLine(e.Message)}", null, e);
        }
        catch (InvalidOperationException e)
        {
            // Utf8JsonReader.GetString refuses unpaired surrogate escapes this way.
            throw new ModelFormatException(Format, $"the header holds an invalid string: {FirstLine(e.Message)}", null, e);
        }
        long dataStart = 8 + headerLength;
        long dataLength = length - dataStart;
        var tensors = new List<TensorEntry>(infos.Count);
        var bySize = new List<(long Start, long End, string Name)>(infos.Count);
        foreach ((string name, Info info) in infos)
        {
            ModelFormatException Fail(string reason) => new(Format, $"tensor '{name}': {reason}", 8);
            if (info.DType is null || info.Shape is null || info.Start < 0)
            {
                throw Fail("needs 'dtype', 'shape' and 'data_offsets'");
            }
            (TensorDType? dtype, string typeName, int itemSize) = MapDType(info.DType) ?? throw Fail($"unsupported dtype '{info.DType}'");
            if (!Checked.TryElementCount(info.Shape, out long count) || !Checked.TryMultiply(count, itemSize, out long bytes))
            {
                throw Fail($"shape [{string.Join(", ", info.Shape)}] overflows a 64-bit byte count");
            }
            if (info.End < info.Start)
            {
                throw Fail($"data_offsets [{info.Start}, {info.End}] end before they start");
            }
            if (info.End - info.Start != bytes)
            {
                throw Fail($"data_offsets [{info.Start}, {info.End}] hold {info.End - info.Start} bytes but {info.DType} shape [{string.Join(", ", info.Shape)}] needs {bytes}");
            }
            if (info.End > dataLength)
            {
                throw Fail($"data_offsets [{info.Start}, {info.End}] run past the end of the file (data region is {dataLength} bytes)");
            }
            bySize.Add((info.Start, info.End, name));
            tensors.Add(new TensorEntry(name, dtype, typeName, info.Shape, count, bytes, dataStart + info.Start));
        }
        bySize.Sort((a, b) => a.Start != b.Start ? a.Start.CompareTo(b.Start) : a.End.CompareTo(b.End));
        long expected = 0;
        foreach ((long start, long end, string name) in bySize)
        {
            if (start != expected)
            {
                string what = start < expected ? "overlaps the previous tensor" : $"leaves a gap of {start - expected} bytes";
                throw new ModelFormatException(Format, $"tensor '{name}': data_offsets start at {start}, expected {expected}: it {what}", dataStart + start);
            }
            expected = end;
        }
        if (expected != dataLength)
        {
            throw new ModelFormatException(Format, $"tensors cover {expected} bytes of data but the file holds {dataLength} ({dataLength - expected} trailing bytes)", dataStart + expected);
        }
        NpyReader.CheckTotal(expected, limits, Format);
        return (metadata, tensors);
    }

    internal static (TensorDType?, string, int)? MapDType(string name) => name switch
    {
        "BOOL" => (TensorDType.Bool, "bool", 1),
        "U8" => (TensorDType.UInt8, "uint8", 1),
        "I8" => (TensorDType.Int8, "int8", 1),
        "U16" => (TensorDType.UInt16, "uint16", 2),
        "I16" => (TensorDType.Int16, "int16", 2),
        "F16" => (TensorDType.Float16, "float16", 2),
        "BF16" => (TensorDType.BFloat16, "bfloat16", 2),
        "U32" => (TensorDType.UInt32, "uint32", 4),
        "I32" => (TensorDType.Int32, "int32", 4),
        "F32" => (TensorDType.Float32, "float32", 4),
        "U64" => (TensorDType.UInt64, "uint64", 8),
        "I64" => (TensorDType.Int64, "int64", 8),
        "F64" => (TensorDType.Float64, "float64", 8),
        "C64" => (TensorDType.Complex64, "complex64", 8),
        // 8-bit floats are described (inspect, hashing) but have no plain dtype to convert to.
        "F8_E5M2" => (null, "float8_e5m2", 1),
        "F8_E4M3" => (null, "float8_e4m3", 1),
        "F8_E8M0" or "E8M0" => (null, "float8_e8m0", 1),
        _ => null,
    };

    private static string FirstLine(string s) => s.Split('\n')[0];

    private static void Parse(byte[] header, LoadLimits limits, Dictionary<string, MetadataValue> metadata, List<(string, Info)> infos)
    {
        // Depth 3 is all the format needs: root object, tensor object, shape array.
        var reader = new Utf8JsonReader(header, new JsonReaderOptions { MaxDepth = 3 });
        var seen = new HashSet<string>(StringComparer.Ordinal);
        Next(ref reader, JsonTokenType.StartObject, "the header");
        while (true)
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                break;
            }
            string name = reader.GetString()!;
            if (!seen.Add(name))
            {
                throw Fail(ref reader, $"duplicate key '{name}'");
            }
            if (name.Length > limits.MaxStringLength)
            {
                throw Fail(ref reader, $"a key is over the limit of {limits.MaxStringLength} characters (LoadLimits.MaxStringLength)");
            }
            if (name == "__metadata__")
            {
                ParseMetadata(ref reader, limits, metadata);
                continue;
            }
            if (infos.Count >= limits.MaxTensorCount)
            {
                throw Fail(ref reader, $"more than {limits.MaxTensorCount} tensors (LoadLimits.MaxTensorCount)");
            }
            infos.Add((name, ParseTensor(ref reader, name, limits)));
        }
        if (reader.Read())
        {
            throw Fail(ref reader, "text after the header object");
        }
    }

    private static void ParseMetadata(ref Utf8JsonReader reader, LoadLimits limits, Dictionary<string, MetadataValue> metadata)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.Null)
        {
            return;
        }
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw Fail(ref reader, "'__metadata__' must be an object of strings (or null)");
        }
        while (true)
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                return;
            }
            string key = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
            {
                throw Fail(ref reader, $"'__metadata__' value for '{key}' must be a string");
            }
            string value = reader.GetString()!;
            if (value.Length > limits.MaxStringLength)
            {
                throw Fail(ref reader, $"'__metadata__' value for '{key}' is over the limit of {limits.MaxStringLength} characters (LoadLimits.MaxStringLength)");
            }
            if (!metadata.TryAdd(key, MetadataValue.FromString(value)))
            {
                throw Fail(ref reader, $"duplicate '__metadata__' key '{key}'");
            }
            if (metadata.Count > limits.MaxMetadataEntries)
            {
                throw Fail(ref reader, $"more than {limits.MaxMetadataEntries} metadata entries (LoadLimits.MaxMetadataEntries)");
            }
        }
    }

    private static Info ParseTensor(ref Utf8JsonReader reader, string name, LoadLimits limits)
    {
        Next(ref reader, JsonTokenType.StartObject, $"tensor '{name}'");
        var info = new Info();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                return info;
            }
            string field = reader.GetString()!;
            if (!seen.Add(field))
            {
                throw Fail(ref reader, $"tensor '{name}': duplicate key '{field}'");
            }
            switch (field)
            {
                case "dtype":
                    Next(ref reader, JsonTokenType.String, $"tensor '{name}' dtype");
                    info.DType = reader.GetString();
                    break;
                case "shape":
                    info.Shape = ReadIntegers(ref reader, $"tensor '{name}' shape", limits.MaxRank, "LoadLimits.MaxRank");
                    break;
                case "data_offsets":
                    long[] offsets = ReadIntegers(ref reader, $"tensor '{name}' data_offsets", 2, "[start, end]");
                    if (offsets.Length != 2)
                    {
                        throw Fail(ref reader, $"tensor '{name}': data_offsets must be [start, end]");
                    }
                    (info.Start, info.End) = (offsets[0], offsets[1]);
                    break;
                default:
                    throw Fail(ref reader, $"tensor '{name}': unknown key '{field}'");
            }
        }
    }

    private static long[] ReadIntegers(ref Utf8JsonReader reader, string what, int max, string why)
    {
        Next(ref reader, JsonTokenType.StartArray, what);
        var values = new List<long>();
        while (true)
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.EndArray)
            {
                return values.ToArray();
            }
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetUInt64(out ulong v) || v > long.MaxValue)
            {
                throw Fail(ref reader, $"{what} must hold non-negative integers below 2^63");
            }
            if (values.Count >= max)
            {
                throw Fail(ref reader, $"{what} has more than {max} entries ({why})");
            }
            values.Add((long)v);
        }
    }

    private static void Next(ref Utf8JsonReader reader, JsonTokenType expected, string what)
    {
        if (!reader.Read() || reader.TokenType != expected)
        {
            throw Fail(ref reader, $"{what} must be {Describe(expected)}");
        }
    }

    private static string Describe(JsonTokenType t) => t switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        _ => t.ToString(),
    };

    private static ModelFormatException Fail(ref Utf8JsonReader reader, string reason) =>
        new(Format, reason, 8 + reader.TokenStartIndex);
}
