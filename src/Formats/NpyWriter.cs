using System.Buffers.Binary;
using System.Text;
using Mlx.Formats.Internal;

namespace Mlx.Formats;

/// <summary>Writes .npy files: version 1.0, or 2.0 when the header does not fit 1.0's 16-bit length.</summary>
public static class NpyWriter
{
    /// <summary>Writes one array to <paramref name="path"/> atomically (temp file + rename).</summary>
    public static void Write(string path, TensorDType dtype, long[] shape, ReadOnlyMemory<byte> data)
    {
        var tensor = new TensorData("", dtype, shape, data);
        tensor.Validate();
        AtomicFile.Write(path, s => Write(s, tensor));
    }

    /// <summary>Writes one array (header then data) to a stream.</summary>
    public static void Write(Stream stream, TensorData tensor)
    {
        tensor.Validate();
        stream.Write(BuildHeader(tensor.DType, tensor.Shape));
        stream.Write(tensor.Data.Span);
    }

    /// <summary>The NumPy descr string for a dtype (bfloat16 as MLX writes it: '&lt;V2').</summary>
    public static string Descr(TensorDType dtype) => dtype switch
    {
        TensorDType.Bool => "|b1",
        TensorDType.UInt8 => "|u1",
        TensorDType.Int8 => "|i1",
        TensorDType.UInt16 => "<u2",
        TensorDType.UInt32 => "<u4",
        TensorDType.UInt64 => "<u8",
        TensorDType.Int16 => "<i2",
        TensorDType.Int32 => "<i4",
        TensorDType.Int64 => "<i8",
        TensorDType.Float16 => "<f2",
        TensorDType.Float32 => "<f4",
        TensorDType.Float64 => "<f8",
        TensorDType.BFloat16 => "<V2",
        TensorDType.Complex64 => "<c8",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    /// <summary>Preamble and header, padded with spaces and a newline to a multiple of 64 bytes as NumPy does.</summary>
    internal static byte[] BuildHeader(TensorDType dtype, long[] shape)
    {
        string tuple = shape.Length switch
        {
            0 => "()",
            1 => $"({shape[0]},)",
            _ => "(" + string.Join(", ", shape) + ")",
        };
        string dict = $"{{'descr': '{Descr(dtype)}', 'fortran_order': False, 'shape': {tuple}, }}";
        int preamble = 10;
        int total = Pad(preamble + dict.Length + 1);
        if (total - preamble > ushort.MaxValue)
        {
            preamble = 12;
            total = Pad(preamble + dict.Length + 1);
        }
        var header = new byte[total];
        NpyHeaderParser.Magic.CopyTo(header);
        header[6] = preamble == 10 ? (byte)1 : (byte)2;
        if (preamble == 10)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(8), (ushort)(total - preamble));
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), (uint)(total - preamble));
        }
        Encoding.ASCII.GetBytes(dict, header.AsSpan(preamble));
        header.AsSpan(preamble + dict.Length, total - preamble - dict.Length - 1).Fill((byte)' ');
        header[^1] = (byte)'\n';
        return header;
    }

    private static int Pad(int n) => (n + 63) / 64 * 64;
}
