using Mlx.Formats.Internal;

namespace Mlx.Formats;

/// <summary>How a GGUF tensor converts to MLX arrays.</summary>
public enum GgufConversion
{
    /// <summary>A plain dtype: read with <see cref="ModelFile.ReadTensor(TensorEntry)"/>.</summary>
    Plain,

    /// <summary>Q4_0, Q4_1, Q8_0: MLX affine-quantized triplet via <see cref="ModelFile.ReadAffineQuantized"/>.</summary>
    Affine,

    /// <summary>Q2_K..Q6_K: dequantized to float16 via <see cref="ModelFile.DequantizeToFloat16"/>.</summary>
    DequantizeFloat16,

    /// <summary>Any other quantized type (Q5_0, Q5_1, Q8_K, IQ*, ...): described but not converted.</summary>
    Unsupported,
}

/// <summary>
/// An MLX affine-quantized tensor converted from GGUF as MLX's gguf_quants.cpp does: element
/// value = w * scale + bias, groups of <see cref="GroupSize"/> along the last axis.
/// </summary>
/// <param name="Weights">Packed unsigned codes as little-endian uint32 words (bits 4: 8 codes per word, lowest nibble first; bits 8: 4 codes per word).</param>
/// <param name="WeightsShape">Shape of the uint32 weights: the tensor shape with the last axis times bits / 32.</param>
/// <param name="Scales">float16 little-endian scales, one per group.</param>
/// <param name="Biases">float16 little-endian biases, one per group.</param>
/// <param name="ScalesShape">Shape of scales and biases: the tensor shape with the last axis divided by the group size.</param>
/// <param name="Bits">4 or 8.</param>
/// <param name="GroupSize">Always 32.</param>
public sealed record AffineQuantizedTensor(byte[] Weights, long[] WeightsShape, byte[] Scales, byte[] Biases, long[] ScalesShape, int Bits, int GroupSize);

/// <summary>Which GGUF tensors convert, and how.</summary>
public static class GgufQuantization
{
    /// <summary>The conversion MLX-style loading uses for a tensor of this ggml type.</summary>
    public static GgufConversion ConversionFor(GgmlTypeInfo type) => type.Name switch
    {
        _ when !type.IsQuantized => GgufConversion.Plain,
        "q4_0" or "q4_1" or "q8_0" => GgufConversion.Affine,
        "q2_k" or "q3_k" or "q4_k" or "q5_k" or "q6_k" => GgufConversion.DequantizeFloat16,
        _ => GgufConversion.Unsupported,
    };

    /// <summary>
    /// The names MLX gives the affine triplet of a quantized GGUF tensor: "P.weight" becomes
    /// "P.weight", "P.scales", "P.biases" (a name without ".weight" keeps itself as the prefix).
    /// </summary>
    public static (string Weights, string Scales, string Biases) MlxNames(string tensorName)
    {
        string prefix = tensorName.EndsWith(".weight", StringComparison.Ordinal) ? tensorName[..^".weight".Length] : tensorName;
        return (tensorName, prefix + ".scales", prefix + ".biases");
    }

    /// <summary>Dequantizes blocks of a supported type (q4_0, q4_1, q8_0, q2_k..q6_k) into <paramref name="output"/>.</summary>
    internal static void Dequantize(string type, ReadOnlySpan<byte> data, Span<float> output)
    {
        switch (type)
        {
            case "q4_0":
                ForBlocks(data, output, 18, 32, DequantQ4_0);
                break;
            case "q4_1":
                ForBlocks(data, output, 20, 32, DequantQ4_1);
                break;
            case "q8_0":
                ForBlocks(data, output, 34, 32, DequantQ8_0);
                break;
            case "q2_k":
                ForBlocks(data, output, 84, 256, DequantQ2K);
                break;
            case "q3_k":
                ForBlocks(data, output, 110, 256, DequantQ3K);
                break;
            case "q4_k":
                ForBlocks(data, output, 144, 256, DequantQ4K);
                break;
            case "q5_k":
                ForBlocks(data, output, 176, 256, DequantQ5K);
                break;
            case "q6_k":
                ForBlocks(data, output, 210, 256, DequantQ6K);
                break;
            default:
                throw new InvalidOperationException($"no dequantizer for {type}");
        }
    }

    private delegate void BlockDequant(ReadOnlySpan<byte> block, Span<float> y);

    private static void ForBlocks(ReadOnlySpan<byte> data, Span<float> output, int typeSize, int blockSize, BlockDequant dequant)
    {
        int blocks = output.Length / blockSize;
        for (int i = 0; i < blocks; i++)
        {
            dequant(data.Slice(i * typeSize, typeSize), output.Slice(i * blockSize, blockSize));
        }
    }

    private static float F16(ReadOnlySpan<byte> b, int at) => (float)BitConverter.UInt16BitsToHalf((ushort)(b[at] | (b[at + 1] << 8)));

    private static void DequantQ4_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = F16(b, 0);
        for (int j = 0; j < 16; j++)
        {
            y[j] = ((b[2 + j] & 0x0F) - 8) * d;
            y[j + 16] = ((b[2 + j] >> 4) - 8) * d;
        }
    }

    private static void DequantQ4_1(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = F16(b, 0);
        float m = F16(b, 2);
        for (int j = 0; j < 16; j++)
        {
            y[j] = (b[4 + j] & 0x0F) * d + m;
            y[j + 16] = (b[4 + j] >> 4) * d + m;
        }
    }

    private static void DequantQ8_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = F16(b, 0);
        for (int j = 0; j < 32; j++)
        {
            y[j] = (sbyte)b[2 + j] * d;
        }
    }

    // block_q2_K: scales[16], qs[64], d, dmin.
    private static void DequantQ2K(ReadOnlySpan<byte> b, Span<float> y)
    {
        ReadOnlySpan<byte> scales = b[..16];
        float d = F16(b, 80);
        float min = F16(b, 82);
        int qAt = 16;
        int isx = 0;
        int yi = 0;
        for (int n = 0; n < 256; n += 128)
        {
            int shift = 0;
            for (int j = 0; j < 4; j++)
            {
                for (int half = 0; half < 2; half++)
                {
                    byte sc = scales[isx++];
                    float dl = d * (sc & 0xF);
                    float ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++)
                    {
                        y[yi++] = dl * ((b[qAt + l + 16 * half] >> shift) & 3) - ml;
                    }
                }
                shift += 2;
            }
            qAt += 32;
        }
    }

    // block_q3_K: hmask[32], qs[64], scales[12], d.
    private static void DequantQ3K(ReadOnlySpan<byte> b, Span<float> y)
    {
        ReadOnlySpan<byte> hm = b[..32];
        float dAll = F16(b, 108);
        Span<sbyte> scales = stackalloc sbyte[16];
        ReadOnlySpan<byte> s = b.Slice(96, 12);
        for (int j = 0; j < 16; j++)
        {
            // 16 6-bit scales: low 4 bits from s[0..7] nibbles, high 2 bits from s[8..11].
            int low = j < 8 ? s[j] & 0x0F : s[j - 8] >> 4;
            int high = (s[8 + (j % 4)] >> (2 * (j / 4))) & 3;
            scales[j] = (sbyte)((low | (high << 4)) - 32);
        }
        int qAt = 32;
        int isx = 0;
        int yi = 0;
        byte m = 1;
        for (int n = 0; n < 256; n += 128)
        {
            int shift = 0;
            for (int j = 0; j < 4; j++)
            {
                for (int half = 0; half < 2; half++)
                {
                    float dl = dAll * scales[isx++];
                    for (int l = 0; l < 16; l++)
                    {
                        int k = l + 16 * half;
                        y[yi++] = dl * (((b[qAt + k] >> shift) & 3) - ((hm[k] & m) != 0 ? 0 : 4));
                    }
                }
                shift += 2;
                m <<= 1;
            }
            qAt += 32;
        }
    }

    private static (int D, int M) ScaleMinK4(int j, ReadOnlySpan<byte> q)
    {
        if (j < 4)
        {
            return (q[j] & 63, q[j + 4] & 63);
        }
        return ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }

    // block_q4_K: d, dmin, scales[12], qs[128].
    private static void DequantQ4K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = F16(b, 0);
        float min = F16(b, 2);
        ReadOnlySpan<byte> scales = b.Slice(4, 12);
        int qAt = 16;
        int isx = 0;
        int yi = 0;
        for (int j = 0; j < 256; j += 64)
        {
            (int sc1, int m1) = ScaleMinK4(isx, scales);
            (int sc2, int m2) = ScaleMinK4(isx + 1, scales);
            for (int l = 0; l < 32; l++)
            {
                y[yi++] = d * sc1 * (b[qAt + l] & 0xF) - min * m1;
            }
            for (int l = 0; l < 32; l++)
            {
                y[yi++] = d * sc2 * (b[qAt + l] >> 4) - min * m2;
            }
            qAt += 32;
            isx += 2;
        }
    }

    // block_q5_K: d, dmin, scales[12], qh[32], qs[128].
    private static void DequantQ5K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = F16(b, 0);
        float min = F16(b, 2);
        ReadOnlySpan<byte> scales = b.Slice(4, 12);
        ReadOnlySpan<byte> qh = b.Slice(16, 32);
        int qAt = 48;
        int isx = 0;
        int yi = 0;
        int u1 = 1, u2 = 2;
        for (int j = 0; j < 256; j += 64)
        {
            (int sc1, int m1) = ScaleMinK4(isx, scales);
            (int sc2, int m2) = ScaleMinK4(isx + 1, scales);
            for (int l = 0; l < 32; l++)
            {
                y[yi++] = d * sc1 * ((b[qAt + l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0)) - min * m1;
            }
            for (int l = 0; l < 32; l++)
            {
                y[yi++] = d * sc2 * ((b[qAt + l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - min * m2;
            }
            qAt += 32;
            isx += 2;
            u1 <<= 2;
            u2 <<= 2;
        }
    }

    // block_q6_K: ql[128], qh[64], scales[16] (int8), d.
    private static void DequantQ6K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = F16(b, 208);
        int ql = 0, qh = 128, sc = 192;
        for (int n = 0; n < 256; n += 128)
        {
            for (int l = 0; l < 32; l++)
            {
                int isx = l / 16;
                int h = b[qh + l];
                int q1 = ((b[ql + l] & 0xF) | (((h >> 0) & 3) << 4)) - 32;
                int q2 = ((b[ql + l + 32] & 0xF) | (((h >> 2) & 3) << 4)) - 32;
                int q3 = ((b[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
                int q4 = ((b[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
                y[n + l] = d * (sbyte)b[sc + isx] * q1;
                y[n + l + 32] = d * (sbyte)b[sc + isx + 2] * q2;
                y[n + l + 64] = d * (sbyte)b[sc + isx + 4] * q3;
                y[n + l + 96] = d * (sbyte)b[sc + isx + 6] * q4;
            }
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }

    /// <summary>MLX's affine conversion of q4_0 / q4_1 / q8_0 blocks.</summary>
    internal static void ToAffine(string type, ReadOnlySpan<byte> data, long blocks, Span<byte> weights, Span<byte> scales, Span<byte> biases)
    {
        int typeSize = type switch { "q4_0" => 18, "q4_1" => 20, _ => 34 };
        for (int i = 0; i < blocks; i++)
        {
            ReadOnlySpan<byte> b = data.Slice(i * typeSize, typeSize);
            Half scale = BitConverter.UInt16BitsToHalf((ushort)(b[0] | (b[1] << 8)));
            Half bias;
            if (type == "q8_0")
            {
                bias = (Half)(-128f * (float)scale);
                Span<byte> w = weights.Slice(i * 32, 32);
                for (int j = 0; j < 32; j++)
                {
                    // int8 code + 128 as an unsigned code: flip the sign bit.
                    w[j] = (byte)(b[2 + j] ^ 0x80);
                }
            }
            else
            {
                int q = type == "q4_0" ? 2 : 4;
                bias = type == "q4_0" ? (Half)(-8f * (float)scale) : BitConverter.UInt16BitsToHalf((ushort)(b[2] | (b[3] << 8)));
                Span<byte> w = weights.Slice(i * 16, 16);
                // Codes 0..15 are the low nibbles of the 16 bytes, 16..31 the high nibbles; pack two per byte, low first.
                for (int j = 0; j < 8; j++)
                {
                    w[j] = (byte)((b[q + 2 * j] & 0x0F) | ((b[q + 2 * j + 1] & 0x0F) << 4));
                    w[8 + j] = (byte)((b[q + 2 * j] >> 4) | (b[q + 2 * j + 1] & 0xF0));
                }
            }
            BitConverter.TryWriteBytes(scales.Slice(i * 2, 2), BitConverter.HalfToUInt16Bits(scale));
            BitConverter.TryWriteBytes(biases.Slice(i * 2, 2), BitConverter.HalfToUInt16Bits(bias));
        }
    }
}

public sealed partial class ModelFile
{
    /// <summary>
    /// Converts a q4_0, q4_1 or q8_0 GGUF tensor to MLX's affine-quantized triplet (group size 32, 4 or 8 bits),
    /// exactly as MLX's load_gguf does. Other types are refused by name.
    /// </summary>
    /// <exception cref="ModelFormatException">The type cannot be converted this way, or the file changed.</exception>
    public AffineQuantizedTensor ReadAffineQuantized(TensorEntry entry)
    {
        CheckEntry(entry);
        GgmlTypeInfo type = RequireGgml(entry);
        if (GgufQuantization.ConversionFor(type) != GgufConversion.Affine)
        {
            throw new ModelFormatException(Format, $"tensor '{entry.Name}': type {type.Name} has no affine conversion (only q4_0, q4_1, q8_0)");
        }
        int bits = type.Name == "q8_0" ? 8 : 4;
        long[] shape = entry.ShapeArray;
        long blocks = entry.ElementCount / 32;
        byte[] raw = ReadRawBytes(entry);
        var weightsShape = (long[])shape.Clone();
        weightsShape[^1] = shape[^1] * bits / 32;
        var scalesShape = (long[])shape.Clone();
        scalesShape[^1] = shape[^1] / 32;
        byte[] weights = AllocateFor(entry, blocks * 32 * bits / 8);
        byte[] scales = AllocateFor(entry, blocks * 2);
        byte[] biases = AllocateFor(entry, blocks * 2);
        GgufQuantization.ToAffine(type.Name, raw, blocks, weights, scales, biases);
        return new AffineQuantizedTensor(weights, weightsShape, scales, biases, scalesShape, bits, 32);
    }

    /// <summary>Dequantizes a q4_0, q4_1, q8_0 or q2_k..q6_k tensor to float32 (row-major, <see cref="TensorEntry.Shape"/>).</summary>
    /// <exception cref="ModelFormatException">The type is not supported (Q5_0, Q5_1, Q8_K, IQ*, ...) or the file changed.</exception>
    public float[] DequantizeToFloat32(TensorEntry entry)
    {
        CheckEntry(entry);
        GgmlTypeInfo type = RequireGgml(entry);
        if (GgufQuantization.ConversionFor(type) is not (GgufConversion.Affine or GgufConversion.DequantizeFloat16))
        {
            throw new ModelFormatException(Format, $"tensor '{entry.Name}': type {type.Name} cannot be dequantized (supported: q4_0, q4_1, q8_0, q2_k, q3_k, q4_k, q5_k, q6_k)");
        }
        if (entry.ElementCount > Array.MaxLength)
        {
            throw new ModelFormatException(Format, $"tensor '{entry.Name}' has {entry.ElementCount} elements, too many for one array");
        }
        byte[] raw = ReadRawBytes(entry);
        var output = new float[entry.ElementCount];
        GgufQuantization.Dequantize(type.Name, raw, output);
        return output;
    }

    /// <summary>Dequantizes like <see cref="DequantizeToFloat32"/> and rounds to float16 (how K-quants are loaded).</summary>
    /// <exception cref="ModelFormatException">The type is not supported or the file changed.</exception>
    public Half[] DequantizeToFloat16(TensorEntry entry)
    {
        float[] values = DequantizeToFloat32(entry);
        var output = new Half[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            output[i] = (Half)values[i];
        }
        return output;
    }

    private GgmlTypeInfo RequireGgml(TensorEntry entry) =>
        entry.GgmlType ?? throw new ModelFormatException(Format, $"tensor '{entry.Name}' is not a GGUF tensor");
}
