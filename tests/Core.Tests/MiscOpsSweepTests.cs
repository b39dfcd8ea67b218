namespace Mlx.Core.Tests;

/// <summary>
/// The smaller mlx.core functions over odd sizes (SIMD tails), empty arrays, non-contiguous (reversed and
/// transposed) inputs and several dtypes, each against a plain C# reference.
/// </summary>
public class MiscOpsSweepTests
{
    public static IEnumerable<object[]> Sizes() => H.OddSizeData();

    [Theory]
    [MemberData(nameof(Sizes))]
    public void FlipTruncCountNonzeroOverOddSizesAndViews(int n)
    {
        var data = H.Rand(n, 31).Select(v => Math.Round(v * 3, 1)).ToArray();
        foreach (var dt in new[] { DType.Float32, DType.Float64, DType.Float16 })
        {
            var x = Mx.Array(data, new[] { n }, dt);
            var rounded = H.RoundTo(data, dt);
            H.Close(rounded.Reverse().ToArray(), Mx.Flip(x), 0, 0, $"flip {dt}");
            H.Close(rounded.Select(Math.Truncate).ToArray(), Mx.Trunc(x), 0, 0, $"trunc {dt}");
            // A reversed (negative-stride) view as input.
            var rev = x[Idx.Slice(null, null, -1)];
            H.Close(rounded.Select(Math.Truncate).Reverse().ToArray(), Mx.Trunc(rev), 0, 0, $"trunc of reversed {dt}");
            Assert.Equal(rounded.Count(v => v != 0), Mx.CountNonzero(rev).Item<int>());
        }
        var ints = Enumerable.Range(0, n).Select(i => (i % 3) - 1).ToArray();
        Assert.Equal(ints.Count(v => v != 0), Mx.CountNonzero(Mx.Array(ints)).Item<int>());
        Assert.Equal(ints.Reverse().ToArray(), Mx.Flip(Mx.Array(ints)).ToArray<int>());
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void DiffOverOddSizesTransposedAndEmpty(int n)
    {
        var data = H.Rand(2 * n, 32);
        // Shape (n, 2) read through a transpose of a (2, n) array: non-contiguous.
        var x = Mx.Transpose(Mx.Array(data, new[] { 2, n }, DType.Float64));
        var d0 = Mx.Diff(x, 1, 0);
        Assert.Equal(new[] { Math.Max(n - 1, 0), 2 }, d0.Shape);
        var expected = new List<double>();
        for (int i = 0; i + 1 < n; i++)
        {
            for (int j = 0; j < 2; j++) expected.Add(data[j * n + i + 1] - data[j * n + i]);
        }
        H.Close(expected, d0, 1e-12, 1e-12);
        var d2 = Mx.Diff(Mx.Array(data.Take(n).ToArray(), new[] { n }, DType.Float64), 2);
        var exp2 = Enumerable.Range(0, Math.Max(n - 2, 0)).Select(i => data[i + 2] - 2 * data[i + 1] + data[i]).ToArray();
        H.Close(exp2, d2, 1e-12, 1e-12);
    }

    [Theory]
    [InlineData(0, 3)]
    [InlineData(1, 1)]
    [InlineData(7, 3)]
    [InlineData(17, 5)]
    [InlineData(33, 33)]
    public void ConvolveModesMatchTheDefinition(int n, int m)
    {
        var a = H.Rand(n, 33);
        var v = H.Rand(m, 34);
        if (n == 0)
        {
            // NumPy refuses empty input; we give an empty result without reading anything.
            return;
        }
        var full = new double[n + m - 1];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++)
                full[i + j] += a[i] * v[j];
        int big = Math.Max(n, m), small = Math.Min(n, m);
        var same = full.Skip((small - 1) / 2).Take(big).ToArray();
        var valid = full.Skip(small - 1).Take(big - small + 1).ToArray();
        var ax = Mx.Array(a, new[] { n }, DType.Float64);
        var vx = Mx.Array(v, new[] { m }, DType.Float64);
        H.Close(full, Mx.Convolve(ax, vx, "full"), 1e-10, 1e-10, "full");
        H.Close(same, Mx.Convolve(ax, vx, "same"), 1e-10, 1e-10, "same");
        H.Close(valid, Mx.Convolve(ax, vx, "valid"), 1e-10, 1e-10, "valid");
    }

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(2, 3, 3, 2)]
    [InlineData(7, 1, 1, 17)]
    [InlineData(0, 2, 3, 1)]
    public void KronMatchesTheDefinitionIncludingTransposedInputs(int r1, int c1, int r2, int c2)
    {
        var a = H.Rand(r1 * c1, 35);
        var b = H.Rand(r2 * c2, 36);
        var expected = new double[r1 * r2 * c1 * c2];
        for (int i = 0; i < r1; i++)
            for (int j = 0; j < c1; j++)
                for (int k = 0; k < r2; k++)
                    for (int l = 0; l < c2; l++)
                        expected[(i * r2 + k) * (c1 * c2) + j * c2 + l] = a[i * c1 + j] * b[k * c2 + l];
        var ax = Mx.Array(a, new[] { r1, c1 }, DType.Float64);
        // b given as the transpose of its transpose: a non-contiguous view with the same values.
        var bt = Mx.Transpose(Mx.Transpose(Mx.Array(b, new[] { r2, c2 }, DType.Float64)));
        var bview = Mx.Transpose(Mx.Contiguous(Mx.Transpose(Mx.Array(b, new[] { r2, c2 }, DType.Float64))));
        H.Close(expected, Mx.Kron(ax, bt), 1e-12, 1e-12);
        H.Close(expected, Mx.Kron(ax, bview), 1e-12, 1e-12, "strided b");
        Assert.Equal(new[] { r1 * r2, c1 * c2 }, Mx.Kron(ax, bview).Shape);
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void UnstackAndVecdot(int n)
    {
        var data = H.Rand(3 * n, 37);
        var x = Mx.Array(data, new[] { 3, n }, DType.Float64);
        var rows = Mx.Unstack(x, 0);
        Assert.Equal(3, rows.Length);
        for (int r = 0; r < 3; r++) H.Close(data.Skip(r * n).Take(n).ToArray(), rows[r], 0, 0);
        var cols = Mx.Unstack(Mx.Transpose(x), 0);
        Assert.Equal(n, cols.Length);
        var y = Mx.Array(H.Rand(3 * n, 38), new[] { 3, n }, DType.Float64);
        var yv = y.ToArray<double>();
        var dots = Mx.Vecdot(x, y).ToArray<double>();
        for (int r = 0; r < 3; r++)
        {
            double s = 0;
            for (int i = 0; i < n; i++) s += data[r * n + i] * yv[r * n + i];
            Assert.Equal(s, dots[r], 10);
        }
    }

    [Fact]
    public void ResultTypeFollowsPromotionAndWeakScalars()
    {
        Assert.Equal(DType.Int16, Mx.ResultType(Mx.Array(new sbyte[] { 1 }), Mx.Array(new byte[] { 1 })));
        Assert.Equal(DType.Int8, Mx.ResultType(Mx.Array(new sbyte[] { 1 }), 3));
        Assert.Equal(DType.Float32, Mx.ResultType(Mx.Array(new sbyte[] { 1 }), 1.5));
        Assert.Equal(DType.Float16, Mx.ResultType(Mx.Array(new[] { (Half)1 }), 1.5));
        Assert.True(Mx.CanCast(DType.Int8, DType.Int32));
        Assert.False(Mx.CanCast(DType.Float32, DType.Int32));
    }
}
