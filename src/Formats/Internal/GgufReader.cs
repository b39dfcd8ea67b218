using Microsoft.Win32.SafeHandles;

namespace Mlx.Formats.Internal;

/// <summary>
/// Reads GGUF v2/v3 following ggml's gguf.cpp checks: lengths and counts bounded by the bytes that remain,
/// duplicate or empty keys refused, nested arrays refused, BOOL values 0 or 1, general.alignment a power of
/// two, n_dims at most 4, names under 64 bytes and unique, element counts overflow-checked, ne[0] a multiple
/// of the type's block size, removed type ids refused, and each tensor's offset equal to the running padded sum.
/// </summary>
internal static class GgufReader
{
    /// <summary>ggml's GGML_MAX_DIMS.</summary>
    public const int MaxDims = 4;

    /// <summary>ggml's GGML_MAX_NAME: names must be shorter.</summary>
    public const int MaxName = 64;

    public const int DefaultAlignment = 32;

    private const ModelFileFormat Format = ModelFileFormat.Gguf;

    internal enum ValueType
    {
        UInt8 = 0,
        Int8 = 1,
        UInt16 = 2,
        Int16 = 3,
        UInt32 = 4,
        Int32 = 5,
        Float32 = 6,
        Bool = 7,
        String = 8,
        Array = 9,
        UInt64 = 10,
        Int64 = 11,
        Float64 = 12,
    }

    public static (IReadOnlyDictionary<string, MetadataValue>, List<TensorEntry>) Read(SafeFileHandle handle, long length, LoadLimits limits)
    {
        var c = new FileCursor(handle, length, Format);
        c.Skip(4, "the magic");
        long versionAt = c.Position;
        uint version = c.ReadU32("the version");
        if ((version & 0xFFFF) == 0 && version != 0)
        {
            throw c.Error("big-endian GGUF files are not supported", versionAt);
        }
        if (version == 1)
        {
            throw c.Error("GGUF version 1 is no longer supported (2 and 3 are read)", versionAt);
        }
        if (version is not (2 or 3))
        {
            throw c.Error($"unsupported GGUF version {version} (2 and 3 are read)", versionAt);
        }
        long countsAt = c.Position;
        ulong tensorCount = c.ReadU64("the tensor count");
        ulong kvCount = c.ReadU64("the metadata count");
        // Each tensor info takes at least 24 bytes and each key/value at least 13, so counts the file cannot hold are refused up front.
        if (tensorCount > (ulong)limits.MaxTensorCount)
        {
            throw c.Error($"{tensorCount} tensors is over the limit of {limits.MaxTensorCount} (LoadLimits.MaxTensorCount)", countsAt);
        }
        if (kvCount > (ulong)limits.MaxMetadataEntries)
        {
            throw c.Error($"{kvCount} metadata entries is over the limit of {limits.MaxMetadataEntries} (LoadLimits.MaxMetadataEntries)", countsAt + 8);
        }
        if (!Checked.TryMultiply((long)tensorCount, 24, out long minInfos) || !Checked.TryMultiply((long)kvCount, 13, out long minKvs)
            || !Checked.TryAdd(minInfos, minKvs, out long minBytes) || minBytes > c.Remaining)
        {
            throw c.Error($"{tensorCount} tensors and {kvCount} metadata entries cannot fit in the {c.Remaining} bytes that remain", countsAt);
        }

        var metadata = new Dictionary<string, MetadataValue>(StringComparer.Ordinal);
        long alignment = DefaultAlignment;
        for (ulong i = 0; i < kvCount; i++)
        {
            long keyAt = c.Position;
            string key = ReadString(c, limits, "a metadata key");
            if (key.Length == 0)
            {
                throw c.Error("empty metadata key", keyAt);
            }
            if (metadata.ContainsKey(key))
            {
                throw c.Error($"duplicate metadata key '{key}'", keyAt);
            }
            long typeAt = c.Position;
            int type = c.ReadI32($"the type of '{key}'");
            MetadataValue value = ReadValue(c, limits, key, type, typeAt);
            if (key == "general.alignment")
            {
                if (value.Kind != MetadataKind.UInt32)
                {
                    throw c.Error("general.alignment must be a UINT32", typeAt);
                }
                long a = value.AsInt64();
                if (a == 0 || (a & (a - 1)) != 0)
                {
                    throw c.Error($"general.alignment {a} is not a power of two", typeAt);
                }
                alignment = a;
            }
            metadata.Add(key, value);
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var infos = new List<(string Name, long[] Ne, GgmlTypeInfo Type, long Offset, long At)>((int)Math.Min(tensorCount, 65536));
        for (ulong i = 0; i < tensorCount; i++)
        {
            long at = c.Position;
            string name = ReadString(c, limits, "a tensor name");
            int nameBytes = System.Text.Encoding.UTF8.GetByteCount(name);
            if (nameBytes >= MaxName)
            {
                throw c.Error($"tensor name '{Abbreviate(name)}' is {nameBytes} bytes; ggml allows at most {MaxName - 1}", at);
            }
            if (!names.Add(name))
            {
                throw c.Error($"duplicate tensor name '{name}'", at);
            }
            long dimsAt = c.Position;
            uint nDims = c.ReadU32($"tensor '{name}' n_dims");
            if (nDims > MaxDims)
            {
                throw c.Error($"tensor '{name}' has {nDims} dimensions; ggml allows at most {MaxDims}", dimsAt);
            }
            var ne = new long[nDims];
            for (int d = 0; d < ne.Length; d++)
            {
                long dimAt = c.Position;
                ne[d] = c.ReadI64($"tensor '{name}' dimensions");
                if (ne[d] < 0)
                {
                    throw c.Error($"tensor '{name}' has negative dimension {ne[d]}", dimAt);
                }
            }
            long typeAt = c.Position;
            int typeId = c.ReadI32($"tensor '{name}' type");
            if (!GgmlTypes.TryGet(typeId, out GgmlTypeInfo type))
            {
                throw c.Error($"tensor '{name}': {GgmlTypes.DescribeUnknown(typeId)}", typeAt);
            }
            long offsetAt = c.Position;
            ulong offset = c.ReadU64($"tensor '{name}' offset");
            if (offset > long.MaxValue)
            {
                throw c.Error($"tensor '{name}' offset {offset} is out of range", offsetAt);
            }
            infos.Add((name, ne, type, (long)offset, at));
        }

        if (!Checked.TryPad(c.Position, alignment, out long dataStart))
        {
            throw c.Error("data section offset overflows", c.Position);
        }
        long dataLength = length - dataStart;
        if (infos.Count > 0 && dataLength < 0)
        {
            throw c.Error("the file ends before its data section", length);
        }

        var tensors = new List<TensorEntry>(infos.Count);
        long expected = 0;
        long lastEnd = 0;
        foreach ((string name, long[] ne, GgmlTypeInfo type, long offset, long at) in infos)
        {
            ModelFormatException Fail(string reason) => new(Format, $"tensor '{name}': {reason}", at);
            if (!Checked.TryElementCount(ne, out long count))
            {
                throw Fail($"element count of ne [{string.Join(", ", ne)}] overflows 64 bits");
            }
            long ne0 = ne.Length > 0 ? ne[0] : 1;
            if (ne0 % type.BlockSize != 0)
            {
                throw Fail($"ne[0] = {ne0} is not a multiple of {type.Name}'s block size {type.BlockSize}");
            }
            if (!GgmlTypes.TryByteSize(type, count, ne0, out long bytes))
            {
                throw Fail("byte size overflows 64 bits");
            }
            if (offset != expected)
            {
                throw Fail($"offset {offset} is not the expected {expected} (tensors must be packed in order, each padded to {alignment} bytes)");
            }
            if (!Checked.TryAdd(offset, bytes, out long end) || end > dataLength)
            {
                throw Fail($"data [{offset}, {offset} + {bytes}) runs past the end of the file (data section is {Math.Max(0, dataLength)} bytes)");
            }
            if (!Checked.TryPad(end, alignment, out expected))
            {
                throw Fail("padded size overflows 64 bits");
            }
            lastEnd = end;
            long[] shape = ne.Reverse().ToArray();
            string typeName = type.DType is { } dt ? dt.MlxName() : type.Name;
            tensors.Add(new TensorEntry(name, type.DType, typeName, shape, count, bytes, dataStart + offset) { GgmlType = type });
        }
        // The last tensor may omit its padding (gguflib, which MLX uses, does), but nothing may follow it.
        if (infos.Count > 0 && dataLength > expected)
        {
            throw new ModelFormatException(Format, $"{dataLength - expected} trailing bytes after the last tensor", dataStart + expected);
        }
        NpyReader.CheckTotal(lastEnd, limits, Format);
        return (metadata, tensors);
    }

    private static string Abbreviate(string s) => s.Length <= 80 ? s : s[..80] + "...";

    private static string ReadString(FileCursor c, LoadLimits limits, string what)
    {
        long at = c.Position;
        ulong n = c.ReadU64(what);
        if (n > (ulong)c.Remaining)
        {
            throw c.Error($"{what} claims {n} bytes but only {c.Remaining} remain", at);
        }
        if (n > (ulong)limits.MaxStringLength)
        {
            throw c.Error($"{what} is {n} bytes, over the limit of {limits.MaxStringLength} (LoadLimits.MaxStringLength)", at);
        }
        return c.ReadUtf8((long)n, what);
    }

    private static int ScalarSize(ValueType t) => t switch
    {
        ValueType.UInt8 or ValueType.Int8 or ValueType.Bool => 1,
        ValueType.UInt16 or ValueType.Int16 => 2,
        ValueType.UInt32 or ValueType.Int32 or ValueType.Float32 => 4,
        ValueType.UInt64 or ValueType.Int64 or ValueType.Float64 => 8,
        ValueType.String => 8,
        _ => 0,
    };

    private static MetadataValue ReadValue(FileCursor c, LoadLimits limits, string key, int type, long typeAt)
    {
        if (type is < 0 or > (int)ValueType.Float64)
        {
            throw c.Error($"'{key}' has unknown value type {type}", typeAt);
        }
        var t = (ValueType)type;
        if (t != ValueType.Array)
        {
            return ReadScalar(c, limits, key, t);
        }
        int elementType = c.ReadI32($"the element type of '{key}'");
        if (elementType == (int)ValueType.Array)
        {
            throw c.Error($"'{key}' is a nested array, which is not supported", typeAt);
        }
        if (elementType is < 0 or > (int)ValueType.Float64)
        {
            throw c.Error($"'{key}' has unknown array element type {elementType}", typeAt);
        }
        var et = (ValueType)elementType;
        long countAt = c.Position;
        ulong n = c.ReadU64($"the length of '{key}'");
        if (n > (ulong)limits.MaxMetadataArrayLength)
        {
            throw c.Error($"'{key}' has {n} elements, over the limit of {limits.MaxMetadataArrayLength} (LoadLimits.MaxMetadataArrayLength)", countAt);
        }
        if (!Checked.TryMultiply((long)n, ScalarSize(et), out long minBytes) || minBytes > c.Remaining)
        {
            throw c.Error($"'{key}' claims {n} elements but only {c.Remaining} bytes remain", countAt);
        }
        int count = (int)n;
        switch (et)
        {
            case ValueType.String:
                var strings = new string[count];
                for (int i = 0; i < count; i++)
                {
                    strings[i] = ReadString(c, limits, $"element {i} of '{key}'");
                }
                return MetadataValue.FromStrings(strings);
            case ValueType.Bool:
                var bools = new bool[count];
                for (int i = 0; i < count; i++)
                {
                    bools[i] = ReadBool(c, key);
                }
                return MetadataValue.FromBools(bools);
            case ValueType.Float32 or ValueType.Float64:
                var doubles = new double[count];
                for (int i = 0; i < count; i++)
                {
                    doubles[i] = ReadScalar(c, limits, key, et).AsDouble();
                }
                return MetadataValue.FromFloats(KindOf(et), doubles);
            case ValueType.UInt8 or ValueType.UInt16 or ValueType.UInt32 or ValueType.UInt64:
                var unsigned = new ulong[count];
                for (int i = 0; i < count; i++)
                {
                    unsigned[i] = ReadScalar(c, limits, key, et).AsUInt64();
                }
                return MetadataValue.FromUInts(KindOf(et), unsigned);
            default:
                var signed = new long[count];
                for (int i = 0; i < count; i++)
                {
                    signed[i] = ReadScalar(c, limits, key, et).AsInt64();
                }
                return MetadataValue.FromInts(KindOf(et), signed);
        }
    }

    private static bool ReadBool(FileCursor c, string key)
    {
        long at = c.Position;
        byte b = c.ReadU8($"'{key}'");
        return b switch
        {
            0 => false,
            1 => true,
            _ => throw c.Error($"'{key}' is a BOOL with value {b}; only 0 and 1 are valid", at),
        };
    }

    private static MetadataKind KindOf(ValueType t) => t switch
    {
        ValueType.UInt8 => MetadataKind.UInt8,
        ValueType.Int8 => MetadataKind.Int8,
        ValueType.UInt16 => MetadataKind.UInt16,
        ValueType.Int16 => MetadataKind.Int16,
        ValueType.UInt32 => MetadataKind.UInt32,
        ValueType.Int32 => MetadataKind.Int32,
        ValueType.Float32 => MetadataKind.Float32,
        ValueType.Bool => MetadataKind.Bool,
        ValueType.String => MetadataKind.String,
        ValueType.UInt64 => MetadataKind.UInt64,
        ValueType.Int64 => MetadataKind.Int64,
        _ => MetadataKind.Float64,
    };

    private static MetadataValue ReadScalar(FileCursor c, LoadLimits limits, string key, ValueType t)
    {
        string what = $"'{key}'";
        return t switch
        {
            ValueType.UInt8 => MetadataValue.FromUInt(MetadataKind.UInt8, c.ReadU8(what)),
            ValueType.Int8 => MetadataValue.FromInt(MetadataKind.Int8, (sbyte)c.ReadU8(what)),
            ValueType.UInt16 => MetadataValue.FromUInt(MetadataKind.UInt16, c.ReadU16(what)),
            ValueType.Int16 => MetadataValue.FromInt(MetadataKind.Int16, (short)c.ReadU16(what)),
            ValueType.UInt32 => MetadataValue.FromUInt(MetadataKind.UInt32, c.ReadU32(what)),
            ValueType.Int32 => MetadataValue.FromInt(MetadataKind.Int32, c.ReadI32(what)),
            ValueType.Float32 => MetadataValue.FromFloat(MetadataKind.Float32, BitConverter.Int32BitsToSingle(c.ReadI32(what))),
            ValueType.Bool => MetadataValue.FromBool(ReadBool(c, key)),
            ValueType.String => MetadataValue.FromString(ReadString(c, limits, what)),
            ValueType.UInt64 => MetadataValue.FromUInt(MetadataKind.UInt64, c.ReadU64(what)),
            ValueType.Int64 => MetadataValue.FromInt(MetadataKind.Int64, c.ReadI64(what)),
            _ => MetadataValue.FromFloat(MetadataKind.Float64, BitConverter.Int64BitsToDouble(c.ReadI64(what))),
        };
    }
}
