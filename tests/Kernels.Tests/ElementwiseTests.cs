namespace Mlx.Kernels.Tests;

/// <summary>The vectorized runs of Elementwise against scalar loops: select with a random mask, scalar-broadcast binary ops.</summary>
public unsafe class ElementwiseTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(17)]
    [InlineData(33)]
    [InlineData(1023)]
    public void SelectMatchesScalar(int n)
    {
        var rng = new System.Random(n);
        var c = Enumerable.Range(0, n).Select(_ => rng.Next(2) == 1).ToArray();
        var a = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        var b = Enumerable.Range(0, n).Select(_ => -(float)rng.NextDouble()).ToArray();
        var o = new float[n];
        var shape = new[] { n };
        fixed (bool* pc = c)
        fixed (float* pa = a, pb = b, po = o)
        {
            foreach (var (sa, sb) in new[] { (1L, 1L), (1L, 0L), (0L, 1L), (0L, 0L) })
            {
                Elementwise.Select(pc, new[] { 1L }, (uint*)pa, new[] { sa }, (uint*)pb, new[] { sb }, (uint*)po, shape);
                for (int i = 0; i < n; i++)
                {
                    Assert.Equal(c[i] ? a[i * sa] : b[i * sb], o[i]);
                }
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(1023)]
    public void ScalarBroadcastBinary(int n)
    {
        var rng = new System.Random(n + 5);
        var a = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        a[0] = float.NaN;
        var sArr = new[] { 0.5f };
        float s = sArr[0];
        var o = new float[n];
        var shape = new[] { n };
        void Check<TOp>(Func<float, float, float> f) where TOp : IBinaryOp<float, float>
        {
            fixed (float* pa = a, po = o, ps = sArr)
            {
                Elementwise.Binary<float, float, TOp>(pa, new[] { 1L }, ps, new[] { 0L }, po, shape);
                for (int i = 0; i < n; i++) Assert.Equal(f(a[i], s), o[i]);
                Elementwise.Binary<float, float, TOp>(ps, new[] { 0L }, pa, new[] { 1L }, po, shape);
                for (int i = 0; i < n; i++) Assert.Equal(f(s, a[i]), o[i]);
            }
        }
        Check<AddOp<float>>((x, y) => x + y);
        Check<SubtractOp<float>>((x, y) => x - y);
        Check<MultiplyOp<float>>((x, y) => x * y);
        Check<DivideOp<float>>((x, y) => x / y);
        Check<MaximumOp<float>>((x, y) => float.IsNaN(x) || float.IsNaN(y) ? float.NaN : Math.Max(x, y));
        Check<MinimumOp<float>>((x, y) => float.IsNaN(x) || float.IsNaN(y) ? float.NaN : Math.Min(x, y));
    }
}
