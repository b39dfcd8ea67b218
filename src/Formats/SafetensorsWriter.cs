using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;
using Mlx.Formats.Internal;

namespace Mlx.Formats;

/// <summary>
/// Writes .safetensors: tensors sorted by name with contiguous data in that order, optional
/// string-to-string <c>__metadata__</c>, header padded with spaces to a multiple of 8 bytes.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>Writes the tensors to <paramref name="path"/> atomically (temp file + rename).</summary>
    public static void Write(string path, IEnumerable<TensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        List<TensorData> sorted = Check(tensors);
        AtomicFile.Write(path, s => WriteSorted(s, sorted, metadata));
    }

    /// <summary>Writes the file to a stream.</summary>
    public static void Write(Stream stream, IEnumerable<TensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        WriteSorted(stream, Check(tensors), metadata);

    private static void WriteSorted(Stream stream, List<TensorData> sorted, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (KeyValuePair<string, string> kv in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    json.WriteString(kv.Key, kv.Value ?? throw new ArgumentException($"metadata '{kv.Key}' is null"));
                }
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (TensorData t in sorted)
            {
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.DType.SafetensorsName());
                json.WriteStartArray("shape");
                foreach (long d in t.Shape)
                {
                    json.WriteNumberValue(d);
                }
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + t.Data.Length);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += t.Data.Length;
            }
            json.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)padded);
        stream.Write(prefix);
        stream.Write(buffer.WrittenSpan);
        for (int i = buffer.WrittenCount; i < padded; i++)
        {
            stream.WriteByte((byte)' ');
        }
        foreach (TensorData t in sorted)
        {
            stream.Write(t.Data.Span);
        }
    }

    private static List<TensorData> Check(IEnumerable<TensorData> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        for (int i = 0; i < list.Count; i++)
        {
            list[i].Validate();
            if (list[i].Name == "__metadata__")
            {
                throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor");
            }
            if (i > 0 && list[i].Name == list[i - 1].Name)
            {
                throw new ArgumentException($"duplicate tensor name '{list[i].Name}'");
            }
        }
        return list;
    }
}
