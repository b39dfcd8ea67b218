using Mlx.Nn;

namespace Mlx.Core.Tests.Nn;

public class InitTests
{
    private static (double Mean, double Std, double Min, double Max) Stats(MxArray a)
    {
        var v = a.ToArray<double>();
        double mean = v.Average();
        return (mean, Math.Sqrt(v.Average(x => (x - mean) * (x - mean))), v.Min(), v.Max());
    }

    [Fact]
    public void ConstantNormalUniformAndIdentity()
    {
        var a = Mx.Zeros(new[] { 200, 300 }, DType.Float64);
        var c = Init.Constant(2.5)(a);
        Assert.Equal(new[] { 200, 300 }, c.Shape);
        Assert.Equal(DType.Float32, c.DType);
        Assert.All(c.ToArray<float>(), v => Assert.Equal(2.5f, v));
        Assert.Equal(DType.Float16, Init.Constant(1, DType.Float16)(a).DType);

        var (mean, std, _, _) = Stats(Init.Normal(2, 3)(a));
        Assert.InRange(mean, 2 - 0.05, 2 + 0.05);
        Assert.InRange(std, 3 - 0.05, 3 + 0.05);

        var (um, us, umin, umax) = Stats(Init.Uniform(-2, 4)(a));
        Assert.InRange(um, 1 - 0.03, 1 + 0.03);
        Assert.InRange(us, 6 / Math.Sqrt(12) - 0.03, 6 / Math.Sqrt(12) + 0.03);
        Assert.True(umin >= -2 && umax < 4);

        var eye = Init.Identity()(Mx.Zeros(new[] { 3, 3 }));
        Assert.Equal(new float[] { 1, 0, 0, 0, 1, 0, 0, 0, 1 }, eye.ToArray<float>());
        Assert.Throws<ArgumentException>(() => Init.Identity()(Mx.Zeros(new[] { 2, 3 })));
    }

    [Fact]
    public void FansFollowMlxRules()
    {
        Assert.Equal((20, 10), Init.FanInFanOut(Mx.Zeros(new[] { 10, 20 })));
        // Conv weight (out, kh, kw, in): receptive field kh * kw multiplies both.
        Assert.Equal((32 * 9, 64 * 9), Init.FanInFanOut(Mx.Zeros(new[] { 64, 3, 3, 32 })));
        Assert.Throws<ArgumentException>(() => Init.FanInFanOut(Mx.Zeros(new[] { 5 })));
    }

    [Fact]
    public void GlorotAndHeScalesComeFromTheFans()
    {
        var w = Mx.Zeros(new[] { 64, 3, 3, 32 });
        int fanIn = 288, fanOut = 576;
        double limit = Math.Sqrt(6.0 / (fanIn + fanOut));
        var (gm, gs, gmin, gmax) = Stats(Init.GlorotUniform()(w));
        Assert.True(gmin >= -limit && gmax <= limit);
        Assert.True(gmax > 0.99 * limit && gmin < -0.99 * limit);
        Assert.InRange(gs, limit / Math.Sqrt(3) * 0.97, limit / Math.Sqrt(3) * 1.03);
        Assert.InRange(gm, -0.005, 0.005);

        var (_, gns, _, _) = Stats(Init.GlorotNormal()(w, 2.0));
        double gstd = 2.0 * Math.Sqrt(2.0 / (fanIn + fanOut));
        Assert.InRange(gns, gstd * 0.97, gstd * 1.03);

        var (_, hs, _, _) = Stats(Init.HeNormal()(w));
        Assert.InRange(hs, 1 / Math.Sqrt(fanIn) * 0.97, 1 / Math.Sqrt(fanIn) * 1.03);
        var (_, hso, _, _) = Stats(Init.HeNormal()(w, "fan_out", 3.0));
        Assert.InRange(hso, 3 / Math.Sqrt(fanOut) * 0.97, 3 / Math.Sqrt(fanOut) * 1.03);

        double hl = Math.Sqrt(3.0 / fanIn);
        var (_, hus, hmin, hmax) = Stats(Init.HeUniform()(w));
        Assert.True(hmin >= -hl && hmax <= hl && hmax > 0.99 * hl);
        Assert.InRange(hus, hl / Math.Sqrt(3) * 0.97, hl / Math.Sqrt(3) * 1.03);
        Assert.Throws<ArgumentException>(() => Init.HeUniform()(w, "fan_avg"));
        Assert.Equal(DType.BFloat16, Init.HeUniform(DType.BFloat16)(w).DType);
    }

    [Fact]
    public void SparseZeroesTheSameNumberInEveryRow()
    {
        var a = Init.Sparse(0.25, std: 2)(Mx.Zeros(new[] { 50, 10 }));
        var v = a.ToArray<float>();
        for (int r = 0; r < 50; r++) Assert.Equal(3, v.Skip(10 * r).Take(10).Count(x => x == 0));
        var nonzero = v.Where(x => x != 0).Select(x => (double)x).ToArray();
        double std = Math.Sqrt(nonzero.Average(x => x * x));
        Assert.InRange(std, 1.7, 2.3);
        // Different rows zero different columns.
        var zeroCols = Enumerable.Range(0, 50).Select(r => string.Join(",", Enumerable.Range(0, 10).Where(c => v[10 * r + c] == 0))).Distinct().Count();
        Assert.True(zeroCols > 10);
        Assert.Throws<ArgumentException>(() => Init.Sparse(0.5)(Mx.Zeros(new[] { 2, 2, 2 })));
    }

    [Theory]
    [InlineData(6, 4, 1.0)]
    [InlineData(3, 5, 2.0)]
    [InlineData(8, 8, 1.0)]
    public void OrthogonalHasOrthonormalRowsOrColumns(int rows, int cols, double gain)
    {
        var q = Init.Orthogonal(gain)(Mx.Zeros(new[] { rows, cols }));
        Assert.Equal(new[] { rows, cols }, q.Shape);
        var m = Mx.AsType(q, DType.Float64);
        // Columns orthonormal when tall, rows when wide (times gain^2).
        var gram = rows >= cols ? Mx.Matmul(Mx.Transpose(m), m) : Mx.Matmul(m, Mx.Transpose(m));
        int k = Math.Min(rows, cols);
        var eye = Enumerable.Range(0, k * k).Select(i => i / k == i % k ? gain * gain : 0.0).ToArray();
        H.Close(eye, gram, 1e-5, 1e-5);
        Assert.Throws<ArgumentException>(() => Init.Orthogonal()(Mx.Zeros(new[] { 3 })));
    }

    [Fact]
    public void InitializersApplyToModules()
    {
        var layer = new Linear(30, 20);
        var glorot = Init.GlorotUniform();
        layer.Apply(p => p.NDim == 2 ? glorot(p) : Init.Constant(0)(p));
        Assert.All(layer.Parameters()["bias"].ToArray<float>(), v => Assert.Equal(0f, v));
        double limit = Math.Sqrt(6.0 / 50);
        Assert.All(layer.Parameters()["weight"].ToArray<float>(), v => Assert.InRange(v, -limit, limit));
    }
}
