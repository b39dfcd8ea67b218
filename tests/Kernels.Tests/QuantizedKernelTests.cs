namespace Mlx.Kernels.Tests;

/// <summary>
/// The quantized kernels on random codes (every bit pattern is a valid code) against a reading of the little-endian
/// bit stream one bit at a time and a double-precision product: runs again without AVX-512 and without AVX in CI,
/// so the register decoders and the portable ones are both checked.
/// </summary>
public unsafe class QuantizedKernelTests
{
    private static int Code(uint[] words, long rowWord, long j, int bits)
    {
        int c = 0;
        for (int t = 0; t < bits; t++)
        {
            long bit = j * bits + t;
            c |= (int)((words[rowWord + bit / 32] >> (int)(bit % 32)) & 1) << t;
        }
        return c;
    }

    private static (uint[] Words, float[] Scales, float[] Biases) RandomWeight(int rows, int cols, int gs, int bits, int seed)
    {
        var rng = new System.Random(seed);
        var words = Enumerable.Range(0, rows * cols * bits / 32).Select(_ => (uint)rng.NextInt64(0, 1L << 32)).ToArray();
        var scales = Enumerable.Range(0, rows * cols / gs).Select(_ => (float)(rng.NextDouble() - 0.5) / 8).ToArray();
        var biases = Enumerable.Range(0, rows * cols / gs).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        return (words, scales, biases);
    }

    private static double[] Dense(uint[] words, float[] scales, float[] biases, int rows, int cols, int gs, int bits)
    {
        var w = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < cols; j++)
            {
                int g = r * (cols / gs) + j / gs;
                w[r * cols + j] = (double)scales[g] * Code(words, (long)r * cols * bits / 32, j, bits) + biases[g];
            }
        }
        return w;
    }

    [Theory]
    [InlineData(32, 2)]
    [InlineData(32, 3)]
    [InlineData(64, 4)]
    [InlineData(64, 5)]
    [InlineData(128, 6)]
    [InlineData(32, 8)]
    public void DequantizeReadsTheBitStream(int gs, int bits)
    {
        int rows = 3, cols = 2 * gs;
        var (words, scales, biases) = RandomWeight(rows, cols, gs, bits, gs + bits);
        var expected = Dense(words, scales, biases, rows, cols, gs, bits);
        var output = new float[rows * cols];
        fixed (uint* pw = words)
        fixed (float* ps = scales, pb = biases, po = output)
        {
            Quantized.DequantizeAffine(pw, ps, pb, scales.Length, gs, bits, po);
        }
        for (int i = 0; i < output.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - output[i]) <= 1e-6, $"{i}: {expected[i]} vs {output[i]}");
        }
    }

    [Theory]
    [InlineData(1, 2, true)]
    [InlineData(2, 3, true)]
    [InlineData(3, 4, true)]
    [InlineData(4, 8, true)]
    [InlineData(1, 4, true)]
    [InlineData(9, 4, true)]
    [InlineData(64, 2, true)]
    [InlineData(1, 4, false)]
    [InlineData(6, 5, false)]
    public void MatmulMatchesTheDenseProduct(int m, int bits, bool transposed) => CheckMatmul(m, bits, transposed, 32, transposed ? 96 : 21, transposed ? 19 : 64);

    // Rows of 512 codes split into whole 16-word blocks, where one or two rows read the words whole (the permuted
    // decoder): every width and group size, so blocks hold 2, 4, 8 or 16 words a group, or part of one group.
    public static IEnumerable<object[]> WholeBlockCases() =>
        from bits in new[] { 2, 4, 8 } from gs in new[] { 32, 64, 128 } from m in new[] { 1, 2, 4 } select new object[] { m, bits, gs };

    [Theory]
    [MemberData(nameof(WholeBlockCases))]
    public void MatmulOverWholeWordBlocks(int m, int bits, int gs) => CheckMatmul(m, bits, true, gs, 512, 7);

    private static void CheckMatmul(int m, int bits, bool transposed, int gs, int k, int n)
    {
        var (rows, cols) = transposed ? (n, k) : (k, n);
        var (words, scales, biases) = RandomWeight(rows, cols, gs, bits, m * 10 + bits);
        var w = Dense(words, scales, biases, rows, cols, gs, bits);
        var rng = new System.Random(m);
        long ldx = k + 3, ldy = n + 2;
        var x = Enumerable.Range(0, (int)(m * ldx)).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var y = new float[m * ldy];
        fixed (uint* pw = words)
        fixed (float* ps = scales, pb = biases, px = x, py = y)
        {
            Quantized.Matmul(m, n, k, px, ldx, pw, ps, pb, gs, bits, transposed, py, ldy);
        }
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double acc = 0;
                for (int t = 0; t < k; t++) acc += x[i * ldx + t] * (transposed ? w[j * k + t] : w[t * n + j]);
                Assert.True(Math.Abs(acc - y[i * ldy + j]) <= 1e-4 * (1 + Math.Abs(acc)), $"({i}, {j}): {acc} vs {y[i * ldy + j]}");
            }
        }
    }

    [Fact]
    public void Fp8AndFp4Encoders()
    {
        // E2M1 rounds to the nearest code, ties to the even one, and saturates at 6.
        float[] inputs = { 0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5f, 5.01f, 100f, -0.3f, -2.6f };
        byte[] codes = { 0, 2, 2, 4, 4, 6, 6, 7, 7, 0x9, 0xD };
        Assert.Equal(codes, inputs.Select(Quantized.ToE2M1).ToArray());
        // E4M3: every finite code survives a round trip through float32.
        for (int c = 0; c < 256; c++)
        {
            if ((c & 0x7F) == 0x7F) continue;
            Assert.Equal((byte)c, Quantized.ToE4M3(Quantized.FromE4M3((byte)c)));
        }
        Assert.Equal(0x7E, Quantized.ToE4M3(float.PositiveInfinity));
        Assert.Equal(1f / 1024, Quantized.FromE8M0(117));
        Assert.True(float.IsNaN(Quantized.FromE8M0(0xFF)));
    }
}

/// <summary>The floating-point modes' decoders (E2M1 and E4M3 codes, E8M0 and E4M3 scales) against the formats' definitions.</summary>
public unsafe class FloatQuantizedKernelTests
{
    private static double E4M3(int c)
    {
        int e = (c >> 3) & 15, m = c & 7;
        if ((c & 0x7F) == 0x7F) return double.NaN;
        double mag = e == 0 ? m / 8.0 * Math.Pow(2, -6) : (1 + m / 8.0) * Math.Pow(2, e - 7);
        return (c & 0x80) != 0 ? -mag : mag;
    }

    [Fact]
    public void EveryCodeDecodes()
    {
        // 256 E4M3 codes in 8 groups of 32 with scales 2^-2 .. 2^5 (E8M0 bytes 125 .. 132).
        var codes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var scales = Enumerable.Range(0, 8).Select(g => (byte)(125 + g)).ToArray();
        var output = new float[256];
        fixed (byte* pc = codes, ps = scales)
        fixed (float* po = output)
        {
            Quantized.DequantizeFloat((uint*)pc, ps, 8, 32, 8, 1f, po);
        }
        for (int i = 0; i < 256; i++)
        {
            double expected = E4M3(i) * Math.Pow(2, i / 32 - 2);
            if (double.IsNaN(expected)) Assert.True(float.IsNaN(output[i]), $"code {i}");
            else Assert.Equal(expected, output[i]);
        }
        // All 16 E2M1 nibbles, low nibble first, in groups of 16 with E4M3 scales (nvfp4) and a global decode factor.
        double[] fp4 = { 0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6 };
        var nibbles = Enumerable.Range(0, 16).Select(j => (byte)((2 * j % 16) | ((2 * j + 1) % 16) << 4)).ToArray();
        var out4 = new float[32];
        var s4 = new byte[] { 0x38, 0x48 };   // E4M3 1.0 and 4.0
        fixed (byte* pc = nibbles, ps = s4)
        fixed (float* po = out4)
        {
            Quantized.DequantizeFloat((uint*)pc, ps, 2, 16, 4, 0.5f, po);
        }
        for (int j = 0; j < 32; j++)
        {
            Assert.Equal(fp4[j % 16] * (j < 16 ? 1.0 : 4.0) * 0.5, out4[j]);
        }
    }

    [Theory]
    [InlineData(1, 4, 32, true, 256)]
    [InlineData(1, 4, 16, true, 256)]
    [InlineData(1, 8, 32, true, 256)]
    [InlineData(1, 8, 16, true, 128)]
    [InlineData(3, 8, 32, true, 128)]
    [InlineData(2, 4, 16, true, 256)]
    public void MatmulFloatOverWholeWordBlocks(int m, int bits, int gs, bool transposed, int k) => CheckMatmulFloat(m, bits, gs, transposed, k, 13);

    [Theory]
    [InlineData(1, 4, 32, true)]
    [InlineData(3, 8, 32, true)]
    [InlineData(4, 4, 16, true)]
    [InlineData(6, 8, 32, true)]
    [InlineData(2, 4, 32, false)]
    [InlineData(20, 4, 16, false)]
    public void MatmulFloatMatchesTheDenseProduct(int m, int bits, int gs, bool transposed) =>
        CheckMatmulFloat(m, bits, gs, transposed, transposed ? 64 : 19, transposed ? 11 : 64);

    private static void CheckMatmulFloat(int m, int bits, int gs, bool transposed, int k, int n)
    {
        var (rows, cols) = transposed ? (n, k) : (k, n);
        var rng = new System.Random(m + bits);
        var codes = new byte[rows * cols * bits / 8];
        rng.NextBytes(codes);
        for (int i = 0; i < codes.Length; i++) if (bits == 8 && (codes[i] & 0x7F) == 0x7F) codes[i] = 0x10;   // no NaN codes
        var scales = Enumerable.Range(0, rows * cols / gs).Select(_ => gs == 16 ? (byte)rng.Next(0x20, 0x50) : (byte)rng.Next(120, 134)).ToArray();
        var dense = new float[rows * cols];
        fixed (byte* pc = codes, ps = scales)
        fixed (float* pd = dense)
        {
            Quantized.DequantizeFloat((uint*)pc, ps, scales.Length, gs, bits, 1f, pd);
        }
        long ldx = k + 1, ldy = n + 3;
        var x = Enumerable.Range(0, (int)(m * ldx)).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var y = new float[m * ldy];
        fixed (byte* pc = codes, ps = scales)
        fixed (float* px = x, py = y)
        {
            Quantized.MatmulFloat(m, n, k, px, ldx, (uint*)pc, ps, gs, bits, 1f, transposed, py, ldy);
        }
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double acc = 0;
                for (int t = 0; t < k; t++) acc += x[i * ldx + t] * (double)(transposed ? dense[j * k + t] : dense[t * n + j]);
                Assert.True(Math.Abs(acc - y[i * ldy + j]) <= 1e-4 * (1 + Math.Abs(acc)), $"({i}, {j}): {acc} vs {y[i * ldy + j]}");
            }
        }
    }
}
