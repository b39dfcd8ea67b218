using Mlx.Optimizers;

namespace Mlx.Core.Tests;

/// <summary>Plain SGD's one-pass update p - lr * g against the two separate ops it replaces, bit for bit.</summary>
public class SgdUpdateTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(17)]
    [InlineData(33)]
    [InlineData(1023)]
    [InlineData(70001)]   // several chunks and threads
    public void MatchesSubtractOfProduct(int n)
    {
        foreach (var dt in new[] { DType.Float32, DType.Float64 })
        {
            var p = Mx.Array(H.Rand(n, 91, -3, 3), new[] { n }, dt);
            var g = Mx.Array(H.Rand(n, 92, -3, 3), new[] { n }, dt);
            var updated = new SGD(0.1).ApplyGradients(new Dictionary<string, MxArray> { ["w"] = g }, new Dictionary<string, MxArray> { ["w"] = p })["w"];
            var expected = Mx.Subtract(p, Mx.Multiply(g, Mx.Array(0.1, dt)));
            Assert.Equal(dt, updated.DType);
            Assert.Equal(expected.ToArray<double>(), updated.ToArray<double>());
        }
    }

    [Fact]
    public void NonContiguousAndMixedDtypes()
    {
        var p = Mx.Transpose(Mx.Array(H.Rand(12, 93), new[] { 3, 4 }, DType.Float32));
        var g = Mx.Array(H.Rand(12, 94), new[] { 4, 3 }, DType.Float32);
        var updated = new SGD(0.5).ApplyGradients(new Dictionary<string, MxArray> { ["w"] = g }, new Dictionary<string, MxArray> { ["w"] = p })["w"];
        Assert.Equal(Mx.Subtract(p, Mx.Multiply(g, Mx.Array(0.5, DType.Float32))).ToArray<float>(), updated.ToArray<float>());
        // float16 parameters keep the two-op path (its rounding happens in float16).
        var ph = Mx.Array(H.Rand(5, 95), new[] { 5 }, DType.Float16);
        var gh = Mx.Array(H.Rand(5, 96), new[] { 5 }, DType.Float16);
        var uh = new SGD(0.5).ApplyGradients(new Dictionary<string, MxArray> { ["w"] = gh }, new Dictionary<string, MxArray> { ["w"] = ph })["w"];
        Assert.Equal(Mx.Subtract(ph, Mx.Multiply(gh, Mx.Array(0.5, DType.Float16))).ToArray<float>(), uh.ToArray<float>());
    }

    [Fact]
    public void GradientFlowsThroughTheUpdate()
    {
        // d/dp sum(p - lr g) = 1, d/dg = -lr.
        var p = Mx.Array(new[] { 1f, 2f, 3f });
        var g = Mx.Array(new[] { 4f, 5f, 6f });
        var grads = Mx.Grad(args => Mx.Sum(new SGD(0.25).ApplyGradients(new Dictionary<string, MxArray> { ["w"] = args[1] }, new Dictionary<string, MxArray> { ["w"] = args[0] })["w"]), new[] { 0, 1 })(new[] { p, g });
        Assert.Equal(new[] { 1f, 1f, 1f }, grads[0].ToArray<float>());
        Assert.Equal(new[] { -0.25f, -0.25f, -0.25f }, grads[1].ToArray<float>());
    }
}
