using System.Buffers.Binary;
using System.Text;
using Mlx.Formats.Internal;

namespace Mlx.Formats;

/// <summary>
/// Writes GGUF version 3: metadata key/values of every value type, and F32, F16, BF16, F64, I8, I16, I32, I64
/// tensors (dims stored reversed, as ggml's ne[]), each padded to the alignment (32 unless a UINT32
/// general.alignment is given).
/// </summary>
public static class GgufWriter
{
    /// <summary>Writes the tensors and metadata to <paramref name="path"/> atomically (temp file + rename).</summary>
    public static void Write(string path, IEnumerable<TensorData> tensors, IEnumerable<KeyValuePair<string, MetadataValue>>? metadata = null)
    {
        (List<TensorData> list, List<KeyValuePair<string, MetadataValue>> kvs, int alignment) = Check(tensors, metadata);
        AtomicFile.Write(path, s => WriteChecked(s, list, kvs, alignment));
    }

    /// <summary>Writes the file to a stream.</summary>
    public static void Write(Stream stream, IEnumerable<TensorData> tensors, IEnumerable<KeyValuePair<string, MetadataValue>>? metadata = null)
    {
        (List<TensorData> list, List<KeyValuePair<string, MetadataValue>> kvs, int alignment) = Check(tensors, metadata);
        WriteChecked(stream, list, kvs, alignment);
    }

    private static void WriteChecked(Stream stream, List<TensorData> tensors, List<KeyValuePair<string, MetadataValue>> kvs, int alignment)
    {
        var w = new CountingWriter(stream);
        w.Bytes("GGUF"u8);
        w.U32(3);
        w.U64((ulong)tensors.Count);
        w.U64((ulong)kvs.Count);
        foreach ((string key, MetadataValue value) in kvs)
        {
            w.String(key);
            WriteValue(w, value);
        }
        long offset = 0;
        foreach (TensorData t in tensors)
        {
            w.String(t.Name);
            w.U32((uint)t.Shape.Length);
            for (int d = t.Shape.Length - 1; d >= 0; d--)
            {
                w.U64((ulong)t.Shape[d]);
            }
            w.U32((uint)GgmlTypes.ForDType(t.DType)!.Id);
            w.U64((ulong)offset);
            offset = Pad(offset + t.Data.Length, alignment);
        }
        w.Zeros(Pad(w.Position, alignment) - w.Position);
        foreach (TensorData t in tensors)
        {
            w.Bytes(t.Data.Span);
            w.Zeros(Pad(t.Data.Length, alignment) - t.Data.Length);
        }
    }

    private static long Pad(long n, int alignment) => (n + alignment - 1) / alignment * alignment;

    private static uint TypeId(MetadataKind kind) => kind switch
    {
        MetadataKind.UInt8 => 0,
        MetadataKind.Int8 => 1,
        MetadataKind.UInt16 => 2,
        MetadataKind.Int16 => 3,
        MetadataKind.UInt32 => 4,
        MetadataKind.Int32 => 5,
        MetadataKind.Float32 => 6,
        MetadataKind.Bool => 7,
        MetadataKind.String => 8,
        MetadataKind.Array => 9,
        MetadataKind.UInt64 => 10,
        MetadataKind.Int64 => 11,
        _ => 12,
    };

    private static void WriteValue(CountingWriter w, MetadataValue value)
    {
        w.U32(TypeId(value.Kind));
        if (value.Kind != MetadataKind.Array)
        {
            WriteScalar(w, value);
            return;
        }
        w.U32(TypeId(value.ElementKind));
        w.U64((ulong)value.Count);
        for (int i = 0; i < value.Count; i++)
        {
            WriteScalar(w, value.ElementAt(i));
        }
    }

    private static void WriteScalar(CountingWriter w, MetadataValue v)
    {
        switch (v.Kind)
        {
            case MetadataKind.String:
                w.String(v.AsString());
                break;
            case MetadataKind.Bool:
                w.Bytes([v.AsBool() ? (byte)1 : (byte)0]);
                break;
            case MetadataKind.UInt8:
                w.Bytes([(byte)v.AsUInt64()]);
                break;
            case MetadataKind.Int8:
                w.Bytes([unchecked((byte)(sbyte)v.AsInt64())]);
                break;
            case MetadataKind.UInt16:
            case MetadataKind.Int16:
                w.U16(v.Kind == MetadataKind.Int16 ? unchecked((ushort)(short)v.AsInt64()) : (ushort)v.AsUInt64());
                break;
            case MetadataKind.UInt32:
                w.U32((uint)v.AsUInt64());
                break;
            case MetadataKind.Int32:
                w.U32(unchecked((uint)(int)v.AsInt64()));
                break;
            case MetadataKind.UInt64:
                w.U64(v.AsUInt64());
                break;
            case MetadataKind.Int64:
                w.U64(unchecked((ulong)v.AsInt64()));
                break;
            case MetadataKind.Float32:
                w.U32(BitConverter.SingleToUInt32Bits((float)v.AsDouble()));
                break;
            default:
                w.U64(BitConverter.DoubleToUInt64Bits(v.AsDouble()));
                break;
        }
    }

    private static (List<TensorData>, List<KeyValuePair<string, MetadataValue>>, int) Check(
        IEnumerable<TensorData> tensors, IEnumerable<KeyValuePair<string, MetadataValue>>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        var kvs = metadata?.ToList() ?? [];
        int alignment = GgufReader.DefaultAlignment;
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string key, MetadataValue value) in kvs)
        {
            if (string.IsNullOrEmpty(key) || !keys.Add(key))
            {
                throw new ArgumentException($"metadata key '{key}' is empty or duplicated");
            }
            ArgumentNullException.ThrowIfNull(value);
            if (key == "general.alignment")
            {
                ulong a = value.Kind == MetadataKind.UInt32 ? value.AsUInt64() : 0;
                if (a == 0 || (a & (a - 1)) != 0 || a > 1 << 20)
                {
                    throw new ArgumentException("general.alignment must be a UINT32 power of two");
                }
                alignment = (int)a;
            }
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (TensorData t in list)
        {
            t.Validate();
            if (GgmlTypes.ForDType(t.DType) is null)
            {
                throw new ArgumentException($"tensor '{t.Name}': GGUF has no type for {t.DType.MlxName()}");
            }
            if (t.Shape.Length > GgufReader.MaxDims)
            {
                throw new ArgumentException($"tensor '{t.Name}': GGUF allows at most {GgufReader.MaxDims} dimensions");
            }
            if (Encoding.UTF8.GetByteCount(t.Name) >= GgufReader.MaxName || !names.Add(t.Name))
            {
                throw new ArgumentException($"tensor name '{t.Name}' is duplicated or not under {GgufReader.MaxName} bytes");
            }
        }
        return (list, kvs, alignment);
    }

    private sealed class CountingWriter(Stream stream)
    {
        private readonly byte[] _scratch = new byte[8];

        public long Position { get; private set; }

        public void Bytes(ReadOnlySpan<byte> bytes)
        {
            stream.Write(bytes);
            Position += bytes.Length;
        }

        public void U16(ushort v)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(_scratch, v);
            Bytes(_scratch.AsSpan(0, 2));
        }

        public void U32(uint v)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_scratch, v);
            Bytes(_scratch.AsSpan(0, 4));
        }

        public void U64(ulong v)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(_scratch, v);
            Bytes(_scratch.AsSpan(0, 8));
        }

        public void String(string s)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(s);
            U64((ulong)bytes.Length);
            Bytes(bytes);
        }

        public void Zeros(long n)
        {
            for (long i = 0; i < n; i++)
            {
                stream.WriteByte(0);
            }
            Position += n;
        }
    }
}
