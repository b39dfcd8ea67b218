namespace Mlx.Core.Tests;

/// <summary>
/// Max/min over separate runs of axes that keep the last one (pooling windows), and their gradient, which run as one
/// windowed pass (WindowReduce): against plain loops, with ties, NaN windows, runs of channels with vector tails and
/// several column blocks, float64, and the composed gradient the fused one stands for (values, second derivatives,
/// vmap).
/// </summary>
public class WindowReductionTests
{
    // (2, 3, 2, 4, 3, c) reduced over axes 2 and 4: windows of 6 values at 24 outer positions, c channels each.
    private static float[] Data(int c, int seed)
    {
        var r = new System.Random(seed);
        var v = Enumerable.Range(0, 2 * 3 * 2 * 4 * 3 * c).Select(_ => (float)Math.Round(r.NextDouble() * 4 - 2, 1)).ToArray();
        v[5] = float.NaN; // one window (outer 0, channel 5) holds a NaN
        return v;
    }

    private static int Index(int n, int h, int i, int w, int j, int ch, int c) => ((((n * 3 + h) * 2 + i) * 4 + w) * 3 + j) * c + ch;

    [Theory]
    [InlineData(8)]
    [InlineData(13)] // a vector and a scalar tail
    [InlineData(300)] // two column blocks
    public void MaxAndMinMatchLoops(int c)
    {
        var data = Data(c, c);
        var x = Mx.Array(data, new[] { 2, 3, 2, 4, 3, c });
        foreach (bool max in new[] { true, false })
        {
            var got = (max ? Mx.Max(x, new[] { 2, 4 }) : Mx.Min(x, new[] { 2, 4 })).ToArray<float>();
            Assert.Equal(2 * 3 * 4 * c, got.Length);
            for (int n = 0; n < 2; n++)
                for (int h = 0; h < 3; h++)
                    for (int w = 0; w < 4; w++)
                        for (int ch = 0; ch < c; ch++)
                        {
                            float want = max ? float.NegativeInfinity : float.PositiveInfinity;
                            for (int i = 0; i < 2; i++)
                                for (int j = 0; j < 3; j++)
                                {
                                    float v = data[Index(n, h, i, w, j, ch, c)];
                                    want = float.IsNaN(v) || float.IsNaN(want) ? float.NaN : max ? Math.Max(want, v) : Math.Min(want, v);
                                }
                            float g = got[((n * 3 + h) * 4 + w) * c + ch];
                            Assert.True(want.Equals(g), $"{(max ? "max" : "min")} ({n},{h},{w},{ch}): {g} want {want}");
                        }
        }
    }

    [Theory]
    [InlineData(8)]
    [InlineData(13)]
    [InlineData(300)]
    public void GradientSharesTheCotangentAmongTies(int c)
    {
        var data = Data(c, c + 1);
        var x = Mx.Array(data, new[] { 2, 3, 2, 4, 3, c });
        var weights = Enumerable.Range(0, 2 * 3 * 4 * c).Select(k => (float)(k % 7 - 3)).ToArray();
        var wArr = Mx.Array(weights, new[] { 2, 3, 4, c });
        var got = Mx.Grad(a => Mx.Sum(Mx.Multiply(Mx.Max(a, new[] { 2, 4 }), wArr)))(x).ToArray<float>();
        for (int n = 0; n < 2; n++)
            for (int h = 0; h < 3; h++)
                for (int w = 0; w < 4; w++)
                    for (int ch = 0; ch < c; ch++)
                    {
                        float m = float.NegativeInfinity;
                        for (int i = 0; i < 2; i++)
                            for (int j = 0; j < 3; j++)
                            {
                                float v = data[Index(n, h, i, w, j, ch, c)];
                                m = float.IsNaN(v) || float.IsNaN(m) ? float.NaN : Math.Max(m, v);
                            }
                        int ties = 0;
                        for (int i = 0; i < 2; i++)
                            for (int j = 0; j < 3; j++)
                                if (data[Index(n, h, i, w, j, ch, c)] == m) ties++;
                        float share = weights[((n * 3 + h) * 4 + w) * c + ch] / (float)ties;
                        for (int i = 0; i < 2; i++)
                            for (int j = 0; j < 3; j++)
                            {
                                int k = Index(n, h, i, w, j, ch, c);
                                float want = data[k] == m ? share : 0f * share; // NaN window: 0 * (g / 0) = NaN
                                Assert.True(want.Equals(got[k]), $"({n},{h},{i},{w},{j},{ch}): {got[k]} want {want}");
                            }
                    }
    }

    [Fact]
    public void FusedGradientEqualsTheCompositionInValueSecondDerivativeAndVmap()
    {
        var r = new System.Random(3);
        var x64 = Mx.Array(Enumerable.Range(0, 2 * 3 * 2 * 4 * 2 * 9).Select(_ => Math.Round(r.NextDouble() * 4 - 2, 1)).ToArray(), new[] { 2, 3, 2, 4, 2, 9 });
        var y = Mx.Max(x64, new[] { 2, 4 }, keepDims: true);
        var g = Mx.Array(Enumerable.Range(0, 2 * 3 * 4 * 9).Select(k => k * 0.25 - 3).ToArray(), new[] { 2, 3, 1, 4, 1, 9 });
        var fused = MxArray.Create(x64.ShapeRef, DType.Float64, new ExtremumGradPrimitive(new[] { 2, 4 }), x64, y, g);
        var composed = ExtremumGradPrimitive.Composition(x64, y, g, new[] { 2, 4 });
        Assert.Equal(composed.ToArray<double>(), fused.ToArray<double>());
        // Through the primitive's own rules: d/dg of sum(dx * t), and the batched form.
        var t = Mx.Array(Enumerable.Range(0, (int)x64.Size).Select(k => (double)(k % 5)).ToArray(), x64.Shape);
        MxArray ViaFused(MxArray[] a) => Mx.Sum(Mx.Multiply(MxArray.Create(x64.ShapeRef, DType.Float64, new ExtremumGradPrimitive(new[] { 2, 4 }), x64, y, a[0]), t));
        MxArray ViaComposed(MxArray[] a) => Mx.Sum(Mx.Multiply(ExtremumGradPrimitive.Composition(x64, y, a[0], new[] { 2, 4 }), t));
        Assert.Equal(Mx.Grad(ViaComposed)(new[] { g })[0].ToArray<double>(), Mx.Grad(ViaFused)(new[] { g })[0].ToArray<double>());
        var gs = Mx.Stack(new[] { g, Mx.Multiply(g, 2.0), Mx.Negative(g) }, 0);
        var batched = Mx.Vmap(a => new[] { MxArray.Create(x64.ShapeRef, DType.Float64, new ExtremumGradPrimitive(new[] { 2, 4 }), x64, y, a[0]) })(new[] { gs })[0];
        for (int b = 0; b < 3; b++)
        {
            Assert.Equal(ExtremumGradPrimitive.Composition(x64, y, gs[b], new[] { 2, 4 }).ToArray<double>(), batched[b].ToArray<double>());
        }
    }
}
