namespace Mlx.Core.Tests;

/// <summary>
/// hadamard_transform: orthonormal (H H^T = n I), Sylvester's matrix for powers of two, H_m (x) H_2^k for the rest,
/// MLX's orientation of its 12 x 12 matrix, gradients by unit steps (the 20 x 20 matrix is not symmetric).
/// </summary>
public class HadamardTests
{
    // Row k: the transform of unit vector e_k, unscaled (column k of H).
    private static double[,] Columns(int n)
    {
        var y = Mx.HadamardTransform(Mx.Eye(n), 1.0).ToArray<float>();
        var h = new double[n, n];
        for (int k = 0; k < n; k++)
            for (int j = 0; j < n; j++)
                h[j, k] = y[k * n + j];
        return h;
    }

    private static double[,] Sylvester(int n)
    {
        if (n == 1) return new double[,] { { 1 } };
        var half = Sylvester(n / 2);
        var h = new double[n, n];
        for (int i = 0; i < n / 2; i++)
            for (int j = 0; j < n / 2; j++)
            {
                h[i, j] = half[i, j]; h[i, j + n / 2] = half[i, j];
                h[i + n / 2, j] = half[i, j]; h[i + n / 2, j + n / 2] = -half[i, j];
            }
        return h;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(8)]
    [InlineData(12)]
    [InlineData(20)]
    [InlineData(24)]
    [InlineData(28)]
    [InlineData(40)]
    [InlineData(56)]
    [InlineData(64)]
    public void IsAHadamardMatrix_WithMlxsStructure(int n)
    {
        var h = Columns(n);
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                Assert.True(Math.Abs(h[i, j]) == 1, $"entry ({i}, {j}) = {h[i, j]}");
                double dot = 0;
                for (int k = 0; k < n; k++) dot += h[i, k] * h[j, k];
                Assert.Equal(i == j ? n : 0, dot);
            }
        }
        int m = n % 12 == 0 && (n & (n - 1)) != 0 ? 12 : n % 20 == 0 ? 20 : n % 28 == 0 ? 28 : 1;
        int p = n / m;
        var s = Sylvester(p);
        var hm = m == 1 ? new double[,] { { 1 } } : Columns(m);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                Assert.Equal(hm[i / p, j / p] * s[i % p, j % p], h[i, j]);
        if (n == 12)
        {
            // MLX's (Sloane's) first row of the 12 x 12 matrix.
            Assert.Equal("+-++++++++++", string.Concat(Enumerable.Range(0, 12).Select(k => h[0, k] > 0 ? '+' : '-')));
        }
    }

    [Fact]
    public void ScaleDtypesLayoutsBatchesAndErrors()
    {
        var x = Mx.Array(H.RandF(3 * 24, 1), new[] { 3, 24 });
        var y = Mx.HadamardTransform(x);
        // Orthonormal by default: norms are kept.
        H.Close(Mx.Sum(Mx.Square(x), 1).ToArray<float>(), Mx.Sum(Mx.Square(y), 1), 1e-5, 1e-5);
        H.Close(Mx.Multiply(Mx.HadamardTransform(x, 1.0), 1 / Math.Sqrt(24)).ToArray<float>(), y, 1e-6, 1e-6);
        // Transposed (non-contiguous) input, float16, float64, integers (float32 result).
        var xt = Mx.Transpose(Mx.Array(H.RandF(24 * 3, 2), new[] { 24, 3 }));
        H.Close(Mx.HadamardTransform(Mx.Array(xt.ToArray<float>(), new[] { 3, 24 })).ToArray<float>(), Mx.HadamardTransform(xt), 1e-6, 1e-6);
        var yh = Mx.HadamardTransform(Mx.AsType(x, DType.Float16));
        Assert.Equal(DType.Float16, yh.DType);
        H.Close(y.ToArray<float>(), Mx.AsType(yh, DType.Float32), 5e-3, 5e-3);
        var yd = Mx.HadamardTransform(Mx.AsType(x, DType.Float64));
        Assert.Equal(DType.Float64, yd.DType);
        H.Close(y.ToArray<float>(), yd, 1e-6, 1e-6);
        Assert.Equal(DType.Float32, Mx.HadamardTransform(Mx.Array(new[] { 1, 2, 3, 4 })).DType);
        H.Shape(new[] { 2, 1, 3, 24 }, Mx.HadamardTransform(Mx.BroadcastTo(x, new[] { 2, 1, 3, 24 })));
        Assert.Equal(new[] { 2f * 3f }, Mx.HadamardTransform(Mx.Array(new[] { 2f }), 3.0).ToArray<float>());
        Assert.Throws<ArgumentException>(() => Mx.HadamardTransform(Mx.Zeros(new[] { 36 })));
        Assert.Throws<ArgumentException>(() => Mx.HadamardTransform(Mx.Zeros(new[] { 0, 8 })));
        // vmap: the same as the batched call.
        var v = Mx.Vmap(a => Mx.HadamardTransform(a))(x);
        H.Close(y.ToArray<float>(), v, 1e-6, 1e-6);
    }

    [Theory]
    [InlineData(20)]
    [InlineData(56)]
    [InlineData(16)]
    public void GradientsByUnitSteps(int n)
    {
        var x = Mx.Array(H.Rand(2 * n, 3), new[] { 2, n }, DType.Float64);
        var r = Mx.Array(H.Rand(2 * n, 4), new[] { 2, n }, DType.Float64);
        MxArray Loss(MxArray a) => Mx.Sum(Mx.Multiply(Mx.HadamardTransform(a, 0.5), r));
        var g = Mx.Grad(Loss)(x).ToArray<double>();
        double base0 = Loss(x).Item<double>();
        var xv = x.ToArray<double>();
        for (int i = 0; i < xv.Length; i++)
        {
            var moved = (double[])xv.Clone();
            moved[i] += 1;
            Assert.Equal(Loss(Mx.Array(moved, new[] { 2, n }, DType.Float64)).Item<double>() - base0, g[i], 9);
        }
        // JVP: the transform of the tangent.
        var t = Mx.Array(H.Rand(2 * n, 5), new[] { 2, n }, DType.Float64);
        var (_, jv) = Mx.Jvp(a => new[] { Mx.HadamardTransform(a[0], 0.5) }, new[] { x }, new[] { t });
        H.Close(Mx.HadamardTransform(t, 0.5).ToArray<double>(), jv[0], 1e-12, 1e-12);
    }
}
