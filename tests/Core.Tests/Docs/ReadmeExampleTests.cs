namespace Mlx.Core.Tests.Docs;

/// <summary>The README's ten-line example, kept compiling and checked against hand-computed values.</summary>
public class ReadmeExampleTests
{
    [Fact]
    public void TenLineExampleWorks()
    {
        var a = Mx.Array(new float[] { 1, 2, 3, 4, 5, 6 }, new[] { 2, 3 });
        var b = Mx.Exp(a[.., 1..]) * 0.5 + 1;
        var c = Mx.Matmul(b, Mx.Transpose(b));
        var s = Mx.Sum(c, new[] { 1 }).ToArray<float>();
        double B(double v) => Math.Exp(v) * 0.5 + 1;
        double c00 = B(2) * B(2) + B(3) * B(3), c01 = B(2) * B(5) + B(3) * B(6), c11 = B(5) * B(5) + B(6) * B(6);
        Assert.Equal(c00 + c01, s[0], 2);
        Assert.Equal(c01 + c11, s[1], 1);

        var grad = Mx.Grad(x => Mx.Sum(Mx.Sin(x) * x));
        var g = grad(Mx.Array(new float[] { 0, 1 })).ToArray<float>();
        Assert.Equal(0f, g[0], 6);
        Assert.Equal(MathF.Sin(1) + MathF.Cos(1), g[1], 6);

        var k = Mx.Random.Key(0);
        Assert.Equal(1797259609u, Mx.Random.Bits(System.Array.Empty<int>(), key: k).Item<uint>());
    }
}
