namespace Mlx.Core.Tests;

/// <summary>ToString against MLX's printer (mlx/utils.cpp: print_subarray, PrintFormatter) with Python's capitalized bools.</summary>
public class PrintingTests
{
    [Fact]
    public void IntegerVector() => Assert.Equal("array([1, 2, 3], dtype=int32)", Mx.Array(new[] { 1, 2, 3 }).ToString());

    [Fact]
    public void Scalar()
    {
        Assert.Equal("array(3, dtype=int32)", Mx.Array(3).ToString());
        Assert.Equal("array(2.5, dtype=float32)", Mx.Array(2.5f).ToString());
        Assert.Equal("array(True, dtype=bool)", Mx.Array(true).ToString());
    }

    [Fact]
    public void Matrix() =>
        Assert.Equal("array([[1, 2, 3],\n       [4, 5, 6]], dtype=int64)", Mx.Array(new long[] { 1, 2, 3, 4, 5, 6 }, new[] { 2, 3 }).ToString());

    [Fact]
    public void ThreeDimsUseOneNewlineAndDeeperIndent()
    {
        // MLX: prefix is 7 + dim spaces, postfix ",\n" at every level (no blank lines, unlike NumPy).
        var a = Mx.Reshape(Mx.Arange(0, 8), new[] { 2, 2, 2 });
        Assert.Equal("array([[[0, 1],\n        [2, 3]],\n       [[4, 5],\n        [6, 7]]], dtype=int32)", a.ToString());
    }

    [Fact]
    public void Bools() => Assert.Equal("array([True, False, True], dtype=bool)", Mx.Array(new[] { true, false, true }).ToString());

    [Fact]
    public void FloatsLikeCppDefaultStream()
    {
        Assert.Equal("array([1, 1.5, 0.1, 1e-05, 123456, 1.23457e+06], dtype=float32)", Mx.Array(new[] { 1f, 1.5f, 0.1f, 1e-5f, 123456f, 1234567f }).ToString());
        Assert.Equal("array([-0.25, 100, 0.333333, 1e+10, 0.0001], dtype=float32)", Mx.Array(new[] { -0.25f, 100f, 1f / 3, 1e10f, 1e-4f }).ToString());
    }

    [Fact]
    public void NonFinite() =>
        Assert.Equal("array([nan, inf, -inf], dtype=float32)", Mx.Array(new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity }).ToString());

    [Fact]
    public void SmallFloatTypes()
    {
        Assert.Equal("array([0.5, 2], dtype=float16)", Mx.Array(new[] { (Half)0.5, (Half)2 }).ToString());
        Assert.Equal("array([0.5, 2], dtype=bfloat16)", Mx.Array(new[] { (BFloat16)0.5f, (BFloat16)2f }).ToString());
        Assert.Equal("array([0.1], dtype=float64)", Mx.Array(new[] { 0.1 }).ToString());
    }

    [Fact]
    public void IntegerTypes()
    {
        Assert.Equal("array([-128, 127], dtype=int8)", Mx.Array(new sbyte[] { -128, 127 }).ToString());
        Assert.Equal("array([0, 255], dtype=uint8)", Mx.Array(new byte[] { 0, 255 }).ToString());
        Assert.Equal("array([18446744073709551615], dtype=uint64)", Mx.Array(new[] { ulong.MaxValue }).ToString());
        Assert.Equal("array([-9223372036854775808], dtype=int64)", Mx.Array(new[] { long.MinValue }).ToString());
    }

    [Fact]
    public void Complex() =>
        Assert.Equal("array([1+2j, 3-4j], dtype=complex64)", Mx.Array(new[] { new Complex64(1, 2), new Complex64(3, -4) }).ToString());

    [Fact]
    public void ComplexSignsFollowMlxFormatter()
    {
        // imag >= 0 (true for -0) or NaN prints "+" then the value, so -0 prints as "+-0".
        Assert.Equal("array([0+-0j, 1+nanj, -1.5-infj], dtype=complex64)",
            Mx.Array(new[] { new Complex64(0, -0f), new Complex64(1, float.NaN), new Complex64(-1.5f, float.NegativeInfinity) }).ToString());
    }

    [Fact]
    public void Empty()
    {
        Assert.Equal("array([], dtype=float32)", Mx.Zeros(new[] { 0 }).ToString());
        Assert.Equal("array([[],\n       []], dtype=int32)", Mx.Zeros(new[] { 2, 0 }, DType.Int32).ToString());
    }

    [Fact]
    public void LongAxesAreSummarizedWithThreeEachSide()
    {
        // print_subarray: n > 6 prints the first 3, "...", the last 3.
        Assert.Equal("array([0, 1, 2, ..., 7, 8, 9], dtype=int32)", Mx.Arange(0, 10).ToString());
        Assert.Equal("array([0, 1, 2, 3, 4, 5], dtype=int32)", Mx.Arange(0, 6).ToString());
        var m = Mx.Reshape(Mx.Arange(0, 16), new[] { 8, 2 });
        Assert.Equal("array([[0, 1],\n       [2, 3],\n       [4, 5],\n       ...,\n       [10, 11],\n       [12, 13],\n       [14, 15]], dtype=int32)", m.ToString());
    }

    [Fact]
    public void NonContiguousPrintsLogicalOrder()
    {
        var a = Mx.Array(new[] { 1, 2, 3, 4 }, new[] { 2, 2 });
        Assert.Equal("array([[1, 3],\n       [2, 4]], dtype=int32)", a.T.ToString());
        Assert.Equal("array([3, 2, 1], dtype=int32)", Mx.Array(new[] { 1, 2, 3 })[Idx.Slice(null, null, -1)].ToString());
    }
}
