namespace Mlx.Core.Tests;

public class SmokeTests
{
    [Fact]
    public void AddAndPrint()
    {
        var a = Mx.Array(new[] { 1, 2, 3 });
        var b = a + 1;
        Assert.Equal("array([2, 3, 4], dtype=int32)", b.ToString());
        var m = Mx.Array(new float[] { 1, 2, 3, 4 }, new[] { 2, 2 });
        Assert.Equal("array([[1, 2],\n       [3, 4]], dtype=float32)", m.ToString());
        var p = Mx.Matmul(m, m);
        Assert.Equal(new float[] { 7, 10, 15, 22 }, p.ToArray<float>());
        Assert.Equal(10f, Mx.Sum(m).Item<float>());
        Assert.Equal(new float[] { 1, 3 }, m[.., 0].ToArray<float>());
    }
}
