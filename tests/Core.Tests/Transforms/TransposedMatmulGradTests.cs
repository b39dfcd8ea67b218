namespace Mlx.Core.Tests;

/// <summary>The gradient through a transposed operand of matmul (Linear's x @ W.T): values and a contiguous layout.</summary>
public class TransposedMatmulGradTests
{
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 17, 33)]
    [InlineData(33, 5, 400)]
    public void WeightGradientOfXTimesWTransposed(int n, int outF, int inF)
    {
        var xv = H.Rand(n * inF, 101);
        var wv = H.Rand(outF * inF, 102);
        var cv = H.Rand(n * outF, 103);
        var x = Mx.Array(xv, new[] { n, inF }, DType.Float32);
        var w = Mx.Array(wv, new[] { outF, inF }, DType.Float32);
        var c = Mx.Array(cv, new[] { n, outF }, DType.Float32);
        var grad = Mx.Grad(a => Mx.Sum(Mx.Multiply(Mx.Matmul(x, Mx.Transpose(a[0])), c)), new[] { 0 })(new[] { w });
        var dw = grad[0];
        Mx.Eval(dw);
        // d/dW sum(c * (x W^T)) = c^T x
        var expected = new double[outF * inF];
        for (int o = 0; o < outF; o++)
        for (int i = 0; i < inF; i++)
        {
            double s = 0;
            for (int r = 0; r < n; r++) s += (double)(float)cv[r * outF + o] * (float)xv[r * inF + i];
            expected[o * inF + i] = s;
        }
        H.Shape(new[] { outF, inF }, dw);
        Assert.True(dw.IsRowContiguous);
        H.Close(expected, dw, 1e-5, 1e-5);
    }

    [Fact]
    public void BatchedSwapAxesGradient()
    {
        var q = Mx.Array(H.Rand(2 * 3 * 4, 104), new[] { 2, 3, 4 }, DType.Float32);
        var k = Mx.Array(H.Rand(2 * 5 * 4, 105), new[] { 2, 5, 4 }, DType.Float32);
        var grads = Mx.Grad(a => Mx.Sum(Mx.Square(Mx.Matmul(a[0], Mx.SwapAxes(a[1], -1, -2)))), new[] { 0, 1 })(new[] { q, k });
        // Same function with k^T materialized as its own array (no transpose in the graph).
        var kt = Mx.Contiguous(Mx.SwapAxes(k, -1, -2));
        var refGrads = Mx.Grad(a => Mx.Sum(Mx.Square(Mx.Matmul(a[0], a[1]))), new[] { 0, 1 })(new[] { q, kt });
        H.Close(refGrads[0].ToArray<double>(), grads[0], 1e-5, 1e-6);
        H.Close(Mx.SwapAxes(refGrads[1], -1, -2).ToArray<double>(), grads[1], 1e-5, 1e-6);
    }
}
