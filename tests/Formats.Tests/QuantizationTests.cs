namespace Mlx.Formats.Tests;

/// <summary>GGUF quantized blocks: MLX's affine conversion of Q4_0/Q4_1/Q8_0 and ggml's dequantization of Q2_K..Q6_K.</summary>
public class QuantizationTests
{
    private const ushort Half1 = 0x3C00, HalfHalf = 0x3800, HalfQuarter = 0x3400, Half2 = 0x4000;

    private static ModelFile OpenQuant(int type, long[] ne, byte[] data)
    {
        byte[] bytes = new GgufBuilder().Header(3, 1, 0).Tensor("blk.0.w.weight", ne, type, 0).Align().Raw(data).Build();
        return ModelFile.Open(TestUtil.WriteTemp(bytes, ".gguf"));
    }

    private static byte[] H(ushort bits) => BitConverter.GetBytes(bits);

    private static int Code(byte[] packed, int bits, int k) =>
        bits == 8 ? packed[k] : (packed[k / 2] >> (4 * (k % 2))) & 0xF;

    private static float Half(byte[] b, int i) => (float)BitConverter.ToHalf(b, 2 * i);

    private static void AssertAffineMatchesDequant(ModelFile file, int bits)
    {
        TensorEntry t = file.Tensors[0];
        AffineQuantizedTensor q = file.ReadAffineQuantized(t);
        float[] reference = file.DequantizeToFloat32(t);
        Assert.Equal(bits, q.Bits);
        Assert.Equal(32, q.GroupSize);
        for (int k = 0; k < reference.Length; k++)
        {
            float value = Code(q.Weights, bits, k) * Half(q.Scales, k / 32) + Half(q.Biases, k / 32);
            Assert.Equal(reference[k], value, 1e-3f);
        }
    }

    [Fact]
    public void Q4_0()
    {
        // Two blocks (rows); codes j in low nibbles, 15 - j in high nibbles.
        var block = new List<byte>(H(HalfHalf));
        block.AddRange(Enumerable.Range(0, 16).Select(j => (byte)(j | ((15 - j) << 4))));
        byte[] data = [.. block, .. block];
        using ModelFile file = OpenQuant(2, [32, 2], data);
        TensorEntry t = file.Tensors[0];
        Assert.Equal([2L, 32], t.Shape);
        float[] y = file.DequantizeToFloat32(t);
        for (int j = 0; j < 16; j++)
        {
            Assert.Equal((j - 8) * 0.5f, y[j]);
            Assert.Equal((15 - j - 8) * 0.5f, y[j + 16]);
        }
        AffineQuantizedTensor q = file.ReadAffineQuantized(t);
        Assert.Equal([2L, 4], q.WeightsShape);
        Assert.Equal([2L, 1], q.ScalesShape);
        Assert.Equal(32, q.Weights.Length);
        // Codes 0..7 in the first uint32, lowest nibble first, as MLX packs them.
        Assert.Equal(0x76543210u, BitConverter.ToUInt32(q.Weights, 0));
        Assert.Equal(-4f, Half(q.Biases, 0));
        AssertAffineMatchesDequant(file, 4);
    }

    [Fact]
    public void Q4_1()
    {
        byte[] data = [.. H(HalfQuarter), .. H(Half1), .. Enumerable.Range(0, 16).Select(j => (byte)(j * 17))];
        using ModelFile file = OpenQuant(3, [32], data);
        float[] y = file.DequantizeToFloat32(file.Tensors[0]);
        Assert.Equal(1f, y[0]);
        Assert.Equal(15 * 0.25f + 1, y[31]);
        AssertAffineMatchesDequant(file, 4);
    }

    [Fact]
    public void Q8_0()
    {
        byte[] data = [.. H(Half2), .. Enumerable.Range(0, 32).Select(j => (byte)(sbyte)(j * 8 - 128))];
        using ModelFile file = OpenQuant(8, [32], data);
        float[] y = file.DequantizeToFloat32(file.Tensors[0]);
        Assert.Equal(-256f, y[0]);
        Assert.Equal((31 * 8 - 128) * 2f, y[31]);
        AffineQuantizedTensor q = file.ReadAffineQuantized(file.Tensors[0]);
        Assert.Equal(8, q.Bits);
        Assert.Equal([8L], q.WeightsShape);
        Assert.Equal([1L], q.ScalesShape);
        Assert.Equal(0, q.Weights[0]);
        Assert.Equal(-256f, Half(q.Biases, 0));
        AssertAffineMatchesDequant(file, 8);
    }

    [Fact]
    public void Q2_K()
    {
        // scales: scale 1, min 0; every qs byte holds codes 0,1,2,3 at shifts 0,2,4,6.
        byte[] data = [.. Enumerable.Repeat((byte)0x01, 16), .. Enumerable.Repeat((byte)0b11100100, 64), .. H(Half1), .. H(0)];
        using ModelFile file = OpenQuant(10, [256], data);
        float[] y = file.DequantizeToFloat32(file.Tensors[0]);
        for (int i = 0; i < 256; i++)
        {
            Assert.Equal((i % 128) / 32, y[i]);
        }
    }

    [Theory]
    [InlineData(0xFF, 0)]
    [InlineData(0x00, -4)]
    public void Q3_K(byte hmask, int offset)
    {
        // 6-bit scale 33 (= 1 after the -32 bias): low nibbles 1 in bytes 0..7, high bits 2 in every field of bytes 8..11.
        byte[] scales = [.. Enumerable.Repeat((byte)0x11, 8), .. Enumerable.Repeat((byte)0xAA, 4)];
        byte[] data = [.. Enumerable.Repeat(hmask, 32), .. Enumerable.Repeat((byte)0b11100100, 64), .. scales, .. H(Half1)];
        using ModelFile file = OpenQuant(11, [256], data);
        float[] y = file.DequantizeToFloat32(file.Tensors[0]);
        for (int i = 0; i < 256; i++)
        {
            Assert.Equal((i % 128) / 32 + offset, y[i]);
        }
    }

    [Fact]
    public void Q4_K()
    {
        // Scales 1 for all eight sub-blocks; mins 2 for the first four (times dmin 0.5), 0 after.
        byte[] scales = [1, 1, 1, 1, 2, 2, 2, 2, 0x01, 0x01, 0x01, 0x01];
        byte[] qs = Enumerable.Range(0, 128).Select(l => (byte)((l % 16) | ((15 - l % 16) << 4))).ToArray();
        byte[] data = [.. H(Half1), .. H(HalfHalf), .. scales, .. qs];
        using ModelFile file = OpenQuant(12, [256], data);
        float[] y = file.DequantizeToFloat32(file.Tensors[0]);
        for (int chunk = 0; chunk < 4; chunk++)
        {
            float min = chunk < 2 ? 1f : 0f;
            for (int l = 0; l < 32; l++)
            {
                byte q = qs[chunk * 32 + l];
                Assert.Equal((q & 0xF) - min, y[chunk * 64 + l]);
                Assert.Equal((q >> 4) - min, y[chunk * 64 + 32 + l]);
            }
        }
        Half[] h = file.DequantizeToFloat16(file.Tensors[0]);
        Assert.Equal((Half)y[5], h[5]);
    }

    [Fact]
    public void Q5_K()
    {
        byte[] scales = [1, 1, 1, 1, 0, 0, 0, 0, 0x01, 0x01, 0x01, 0x01];
        byte[] data = [.. H(Half1), .. H(0), .. scales, .. Enumerable.Repeat((byte)0xFF, 32), .. Enumerable.Repeat((byte)0x21, 128)];
        using ModelFile file = OpenQuant(13, [256], data);
        float[] y = file.DequantizeToFloat32(file.Tensors[0]);
        for (int i = 0; i < 256; i++)
        {
            Assert.Equal((i % 64) < 32 ? 17 : 18, y[i]);
        }
    }

    [Fact]
    public void Q6_K()
    {
        sbyte[] sc = Enumerable.Range(1, 16).Select(i => (sbyte)i).ToArray();
        byte[] data = [.. Enumerable.Repeat((byte)0x21, 128), .. new byte[64], .. sc.Select(s => (byte)s), .. H(Half1)];
        using ModelFile file = OpenQuant(14, [256], data);
        float[] y = file.DequantizeToFloat32(file.Tensors[0]);
        for (int n = 0; n < 2; n++)
        {
            for (int l = 0; l < 32; l++)
            {
                int isx = n * 8 + l / 16;
                Assert.Equal(sc[isx] * -31f, y[n * 128 + l]);
                Assert.Equal(sc[isx + 2] * -31f, y[n * 128 + l + 32]);
                Assert.Equal(sc[isx + 4] * -30f, y[n * 128 + l + 64]);
                Assert.Equal(sc[isx + 6] * -30f, y[n * 128 + l + 96]);
            }
        }
    }

    [Fact]
    public void MlxNamesForTheTriplet()
    {
        Assert.Equal(("blk.0.attn_q.weight", "blk.0.attn_q.scales", "blk.0.attn_q.biases"), GgufQuantization.MlxNames("blk.0.attn_q.weight"));
        Assert.Equal(("emb", "emb.scales", "emb.biases"), GgufQuantization.MlxNames("emb"));
    }

    [Fact]
    public void ConversionTable()
    {
        Assert.True(GgmlTypes.TryGet(2, out GgmlTypeInfo q40));
        Assert.Equal(GgufConversion.Affine, GgufQuantization.ConversionFor(q40));
        Assert.True(GgmlTypes.TryGet(14, out GgmlTypeInfo q6k));
        Assert.Equal(GgufConversion.DequantizeFloat16, GgufQuantization.ConversionFor(q6k));
        Assert.True(GgmlTypes.TryGet(6, out GgmlTypeInfo q50));
        Assert.Equal(GgufConversion.Unsupported, GgufQuantization.ConversionFor(q50));
        Assert.True(GgmlTypes.TryGet(30, out GgmlTypeInfo bf16));
        Assert.Equal(GgufConversion.Plain, GgufQuantization.ConversionFor(bf16));
        Assert.Equal((256, 210), (q6k.BlockSize, q6k.TypeSize));
        foreach (int removed in new[] { 4, 5, 31, 32, 33, 36, 37, 38 })
        {
            Assert.False(GgmlTypes.TryGet(removed, out _));
        }
    }
}
