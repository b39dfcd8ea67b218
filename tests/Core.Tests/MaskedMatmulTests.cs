namespace Mlx.Core.Tests;

/// <summary>block_masked_mm and segmented_mm against double loops written from MLX's definitions.</summary>
public class MaskedMatmulTests
{
    // (rows, cols) element (i, j) of a block mask (tr, tc) of block size bs.
    private static double MaskAt(double[] mask, int tc, int bs, int i, int j) => mask[(i / bs) * tc + j / bs];

    [Theory]
    [InlineData(32, 40, 70, 50, false)]
    [InlineData(64, 65, 64, 130, true)]
    [InlineData(32, 7, 33, 32, true)]
    public void BlockMasks_BoolAndFloat_PartialBlocks(int bs, int m, int k, int n, bool floatMasks)
    {
        int tm = (m + bs - 1) / bs, tk = (k + bs - 1) / bs, tn = (n + bs - 1) / bs;
        var a = H.Rand(m * k, 1);
        var b = H.Rand(k * n, 2);
        var rng = new Random(bs + m);
        double[] Mask(int count) => Enumerable.Range(0, count).Select(_ => floatMasks ? Math.Round(rng.NextDouble() * 2, 1) : rng.Next(2)).ToArray();
        var lhs = Mask(tm * tk);
        var rhs = Mask(tk * tn);
        var outm = Mask(tm * tn);
        MxArray AsMask(double[] v, int r, int c) => floatMasks ? Mx.Array(v, new[] { r, c }, DType.Float32) : Mx.Array(v.Select(x => x != 0).ToArray(), new[] { r, c });
        var y = Mx.BlockMaskedMm(Mx.Array(a, new[] { m, k }, DType.Float32), Mx.Array(b, new[] { k, n }, DType.Float32), bs,
            AsMask(outm, tm, tn), AsMask(lhs, tm, tk), AsMask(rhs, tk, tn));
        var expected = new double[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double acc = 0;
                for (int t = 0; t < k; t++)
                {
                    acc += (float)a[i * k + t] * MaskAt(lhs, tk, bs, i, t) * (float)b[t * n + j] * MaskAt(rhs, tn, bs, t, j);
                }
                expected[i * n + j] = acc * MaskAt(outm, tn, bs, i, j);
            }
        }
        H.Close(expected, y, 1e-4, 1e-4);
    }

    [Fact]
    public void BatchesVectorsGradientsAndErrors()
    {
        // A batch of masks against one pair of operands; a vector a.
        var a = Mx.Array(H.RandF(40 * 40, 3), new[] { 40, 40 });
        var b = Mx.Array(H.RandF(40 * 40, 4), new[] { 40, 40 });
        var masks = Mx.Array(new[] { true, false, true, true, false, false, true, false }, new[] { 2, 2, 2 });
        var y = Mx.BlockMaskedMm(a, b, 32, maskOut: masks);
        H.Shape(new[] { 2, 40, 40 }, y);
        var full = Mx.Matmul(a, b).ToArray<float>();
        var yv = y.ToArray<float>();
        var mv = masks.ToArray<bool>();
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < 40; i++)
                for (int j = 0; j < 40; j++)
                    Assert.Equal(mv[s * 4 + (i / 32) * 2 + j / 32] ? full[i * 40 + j] : 0f, yv[s * 1600 + i * 40 + j]);
        var v = Mx.Array(H.RandF(40, 5));
        // For a vector a the lhs mask has no row-block axis (as in MLX): (K blocks,).
        var yvec = Mx.BlockMaskedMm(v, b, 32, maskLhs: Mx.Array(new[] { true, false }));
        H.Shape(new[] { 40 }, yvec);
        var vm = v.ToArray<float>().Select((x, i) => i < 32 ? x : 0f).ToArray();
        H.Close(Mx.Matmul(Mx.Array(vm), b).ToArray<float>(), yvec, 1e-5, 1e-5);
        // The gradient in a: a masked block gets none.
        var g = Mx.Grad(x => Mx.Sum(Mx.BlockMaskedMm(x, b, 32, maskLhs: Mx.Array(new[] { true, false, true, true }, new[] { 2, 2 }))))(a).ToArray<float>();
        var rowSums = Mx.Sum(b, 1).ToArray<float>();
        for (int i = 0; i < 40; i++)
            for (int t = 0; t < 40; t++)
                Assert.Equal(i < 32 && t >= 32 ? 0f : rowSums[t], g[i * 40 + t], 4);
        Assert.Throws<ArgumentException>(() => Mx.BlockMaskedMm(a, b, 16, maskOut: masks));
        Assert.Throws<ArgumentException>(() => Mx.BlockMaskedMm(a, b, 32, maskOut: Mx.Ones(new[] { 3, 2 }, DType.Bool)));
        Assert.Equal(Mx.Matmul(a, b).ToArray<float>(), Mx.BlockMaskedMm(a, b).ToArray<float>());
    }

    [Fact]
    public void SegmentedProducts()
    {
        int m = 5, k = 40, n = 7;
        var a = Mx.Array(H.Rand(m * k, 6), new[] { m, k }, DType.Float32);
        var b = Mx.Array(H.Rand(k * n, 7), new[] { k, n }, DType.Float32);
        var segs = new[] { 0, 10, 10, 40, 3, 3, 0, 40, 17, 18, 5, 33 };
        var y = Mx.SegmentedMm(a, b, Mx.Array(segs, new[] { 3, 2, 2 }));
        H.Shape(new[] { 3, 2, m, n }, y);
        var expected = new List<float>();
        for (int s = 0; s < 6; s++)
        {
            int start = segs[2 * s], end = segs[2 * s + 1];
            expected.AddRange(end == start
                ? new float[m * n]
                : Mx.Matmul(Mx.Slice(a, new[] { 0, start }, new[] { m, end }), Mx.Slice(b, new[] { start, 0 }, new[] { end, n })).ToArray<float>());
        }
        H.Close(expected, y, 1e-5, 1e-5);
        var yh = Mx.SegmentedMm(Mx.AsType(a, DType.BFloat16), b, Mx.Array(new[] { 0, 40 }));
        Assert.Equal(DType.Float32, yh.DType);
        Assert.Throws<IndexOutOfRangeException>(() => Mx.SegmentedMm(a, b, Mx.Array(new[] { 0, 41 })).ToArray<float>());
        Assert.Throws<IndexOutOfRangeException>(() => Mx.SegmentedMm(a, b, Mx.Array(new[] { 9, 3 })).ToArray<float>());
        Assert.Throws<ArgumentException>(() => Mx.SegmentedMm(a, b, Mx.Array(new[] { 0, 1, 2 })));
        Assert.Throws<ArgumentException>(() => Mx.SegmentedMm(Mx.ExpandDims(a, 0), b, Mx.Array(new[] { 0, 1 })));
    }
}
