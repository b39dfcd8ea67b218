namespace Mlx.Core.Tests;

/// <summary>The smaller mlx.core functions, against NumPy's documented results.</summary>
public class MiscOpsTests
{
    [Fact]
    public void FlipReversesAndIsAView()
    {
        var a = Mx.Array(new[] { 1, 2, 3, 4, 5, 6 }, new[] { 2, 3 });
        Assert.Equal(new[] { 6, 5, 4, 3, 2, 1 }, Mx.Flip(a).ToArray<int>());
        Assert.Equal(new[] { 3, 2, 1, 6, 5, 4 }, Mx.Flip(a, new[] { 1 }).ToArray<int>());
        Assert.Empty(Mx.Flip(Mx.Zeros(new[] { 0 })).ToArray<float>());
    }

    [Fact]
    public void KronMatchesNumpy()
    {
        // np.kron([[1, 2], [3, 4]], [[0, 5], [6, 7]])
        var k = Mx.Kron(Mx.Array(new[] { 1, 2, 3, 4 }, new[] { 2, 2 }), Mx.Array(new[] { 0, 5, 6, 7 }, new[] { 2, 2 }));
        Assert.Equal(new[] { 4, 4 }, k.Shape);
        Assert.Equal(new[] { 0, 5, 0, 10, 6, 7, 12, 14, 0, 15, 0, 20, 18, 21, 24, 28 }, k.ToArray<int>());
    }

    [Fact]
    public void DiffMatchesNumpy()
    {
        var x = Mx.Array(new[] { 1, 2, 4, 7, 0 });
        Assert.Equal(new[] { 1, 2, 3, -7 }, Mx.Diff(x).ToArray<int>());
        Assert.Equal(new[] { 1, 1, -10 }, Mx.Diff(x, 2).ToArray<int>());
        var m = Mx.Array(new[] { 1, 3, 6, 10, 0, 5, 6, 8 }, new[] { 2, 4 });
        Assert.Equal(new[] { -1, 2, 0, -2 }, Mx.Diff(m, 1, 0).ToArray<int>());
    }

    [Theory]
    [InlineData("full", new float[] { 0, 1, 2.5f, 4, 1.5f })]
    [InlineData("same", new float[] { 1, 2.5f, 4 })]
    [InlineData("valid", new float[] { 2.5f })]
    public void ConvolveMatchesNumpy(string mode, float[] expected)
    {
        // np.convolve([1, 2, 3], [0, 1, 0.5], mode)
        var r = Mx.Convolve(Mx.Array(new float[] { 1, 2, 3 }), Mx.Array(new float[] { 0, 1, 0.5f }), mode);
        Assert.Equal(expected, r.ToArray<float>());
    }

    [Fact]
    public void WindowsMatchTheirFormulas()
    {
        // np.hanning(5) = [0, 0.5, 1, 0.5, 0]; np.bartlett(5) = [0, 0.5, 1, 0.5, 0]; np.hamming(3) = [0.08, 1, 0.08]
        Assert.Equal(new[] { 0f, 0.5f, 1f, 0.5f, 0f }, Mx.Hanning(5).ToArray<float>().Select(v => MathF.Round(v, 6)).ToArray());
        Assert.Equal(new[] { 0f, 0.5f, 1f, 0.5f, 0f }, Mx.Bartlett(5).ToArray<float>());
        Assert.Equal(new[] { 0.08f, 1f, 0.08f }, Mx.Hamming(3).ToArray<float>().Select(v => MathF.Round(v, 6)).ToArray());
        Assert.Equal(0f, MathF.Round(Mx.Blackman(3).ToArray<float>()[0], 6));
        Assert.Equal(new[] { 1f }, Mx.Hanning(1).ToArray<float>());
    }

    [Fact]
    public void TruncCountNonzeroUnstack()
    {
        Assert.Equal(new[] { -1f, -0f, 0f, 1f, 2f }, Mx.Trunc(Mx.Array(new[] { -1.7f, -0.2f, 0.2f, 1.5f, 2f })).ToArray<float>());
        Assert.Equal(3, Mx.CountNonzero(Mx.Array(new[] { 0, 1, 7, 0, -2 })).Item<int>());
        var parts = Mx.Unstack(Mx.Array(new[] { 1, 2, 3, 4, 5, 6 }, new[] { 2, 3 }), 1);
        Assert.Equal(3, parts.Length);
        Assert.Equal(new[] { 2, 5 }, parts[1].ToArray<int>());
        Assert.Equal(new[] { 3, 4 }, Mx.BroadcastShapes(new[] { 3, 1 }, new[] { 4 }));
    }
}
