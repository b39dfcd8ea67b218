using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Mlx.Formats.Internal;

namespace Mlx.Formats;

/// <summary>
/// Writes .npz files: a zip of "NAME.npy" members, stored or deflated, with correct CRC-32s.
/// Zip64 is not written, so each member and the whole archive must stay under 4 GiB.
/// </summary>
public static class NpzWriter
{
    /// <summary>Writes the tensors to <paramref name="path"/> atomically (temp file + rename).</summary>
    /// <param name="path">Destination.</param>
    /// <param name="tensors">Tensors; names must be unique.</param>
    /// <param name="compress">Deflate members (like numpy.savez_compressed) instead of storing them.</param>
    public static void Write(string path, IEnumerable<TensorData> tensors, bool compress = false)
    {
        List<TensorData> list = Check(tensors);
        AtomicFile.Write(path, s => Write(s, list, compress));
    }

    /// <summary>Writes the archive to a stream.</summary>
    public static void Write(Stream stream, IEnumerable<TensorData> tensors, bool compress = false)
    {
        List<TensorData> list = Check(tensors);
        var central = new MemoryStream();
        long position = 0;
        foreach (TensorData t in list)
        {
            byte[] header = NpyWriter.BuildHeader(t.DType, t.Shape);
            var crc = new Crc32();
            crc.Append(header);
            crc.Append(t.Data.Span);
            long size = header.Length + (long)t.Data.Length;
            byte[] payload;
            if (compress)
            {
                var buffer = new MemoryStream();
                using (var deflate = new DeflateStream(buffer, CompressionLevel.Optimal, leaveOpen: true))
                {
                    deflate.Write(header);
                    deflate.Write(t.Data.Span);
                }
                payload = buffer.ToArray();
            }
            else
            {
                payload = [.. header, .. t.Data.Span];
            }
            byte[] name = Encoding.UTF8.GetBytes(t.Name + ".npy");
            if (size > uint.MaxValue - 1 || position > uint.MaxValue - 1 || name.Length > ushort.MaxValue)
            {
                throw new ArgumentException($"tensor '{t.Name}' is too large for a zip without zip64");
            }
            ushort flags = (ushort)(Ascii.IsValid(name) ? 0 : 0x800);
            ushort method = (ushort)(compress ? 8 : 0);
            var local = new byte[30];
            BinaryPrimitives.WriteUInt32LittleEndian(local, 0x04034b50);
            WriteCommon(local.AsSpan(4), flags, method, crc.Value, payload.Length, size, name.Length);
            stream.Write(local);
            stream.Write(name);
            stream.Write(payload);

            var entry = new byte[46];
            BinaryPrimitives.WriteUInt32LittleEndian(entry, 0x02014b50);
            BinaryPrimitives.WriteUInt16LittleEndian(entry.AsSpan(4), 20);
            WriteCommon(entry.AsSpan(6), flags, method, crc.Value, payload.Length, size, name.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(42), (uint)position);
            central.Write(entry);
            central.Write(name);
            position += local.Length + name.Length + payload.Length;
        }
        if (position > uint.MaxValue || list.Count > ushort.MaxValue - 1)
        {
            throw new ArgumentException("archive is too large for a zip without zip64");
        }
        stream.Write(central.GetBuffer().AsSpan(0, (int)central.Length));
        var end = new byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(end, 0x06054b50);
        BinaryPrimitives.WriteUInt16LittleEndian(end.AsSpan(8), (ushort)list.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(end.AsSpan(10), (ushort)list.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(end.AsSpan(12), (uint)central.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(end.AsSpan(16), (uint)position);
        stream.Write(end);
    }

    /// <summary>The fields local and central headers share, from "version needed" through the extra length.</summary>
    private static void WriteCommon(Span<byte> b, ushort flags, ushort method, uint crc, long compressed, long size, int nameLength)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(b, 20);
        BinaryPrimitives.WriteUInt16LittleEndian(b[2..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(b[4..], method);
        BinaryPrimitives.WriteUInt16LittleEndian(b[6..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(b[8..], 0x21); // 1980-01-01, like NumPy's zipfile
        BinaryPrimitives.WriteUInt32LittleEndian(b[10..], crc);
        BinaryPrimitives.WriteUInt32LittleEndian(b[14..], (uint)compressed);
        BinaryPrimitives.WriteUInt32LittleEndian(b[18..], (uint)size);
        BinaryPrimitives.WriteUInt16LittleEndian(b[22..], (ushort)nameLength);
    }

    private static List<TensorData> Check(IEnumerable<TensorData> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (TensorData t in list)
        {
            t.Validate();
            if (!names.Add(t.Name))
            {
                throw new ArgumentException($"duplicate tensor name '{t.Name}'");
            }
        }
        return list;
    }
}
