using MathNet.Numerics.LinearAlgebra;

namespace Mlx.Core.Tests;

/// <summary>
/// mlx.core.linalg against MathNet (inverse, Cholesky, QR, eigenvalues, singular values, pseudo-inverse,
/// determinant, the matrix norms) and against the defining identities (Q R = A, A V = V diag(w), U S Vt = A,
/// orthonormal factors), batched, in float64 and float32.
/// </summary>
public class LinalgModuleTests
{
    private static Matrix<double> M(double[] v, int m, int n, int offset = 0) => Matrix<double>.Build.Dense(m, n, (i, j) => v[offset + i * n + j]);

    private static double[] D(MxArray a) => Mx.AsType(a, DType.Float64).ToArray<double>();

    private static double[] Rows(Matrix<double> m) => Enumerable.Range(0, m.RowCount).SelectMany(i => Enumerable.Range(0, m.ColumnCount).Select(j => m[i, j])).ToArray();

    // A well-conditioned batch: random entries plus n on the diagonal.
    private static double[] Batch(int batch, int n, int seed)
    {
        var v = H.Rand(batch * n * n, seed);
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < n; i++) v[b * n * n + i * n + i] += n;
        return v;
    }

    [Theory]
    [InlineData(DType.Float64, 1e-12)]
    [InlineData(DType.Float32, 2e-5)]
    public void InverseSolveAndDeterminantMatchMathNet(DType t, double tol)
    {
        const int B = 3, N = 5;
        var v = Batch(B, N, 1);
        var a = Mx.AsType(Mx.Array(v, new[] { B, N, N }), t);
        var inv = D(Mx.Linalg.Inv(a));
        var det = D(Mx.Linalg.Det(a));
        var rhs = H.Rand(N, 2);
        var solved = D(Mx.Linalg.Solve(a, Mx.AsType(Mx.Array(rhs), t)));
        Assert.Equal(new[] { B, N }, Mx.Linalg.Solve(a, Mx.AsType(Mx.Array(rhs), t)).Shape);
        // b of another float type promotes, as MLX's; a complex one is refused.
        Assert.Equal(DType.Float64, Mx.Linalg.Solve(a, Mx.Array(rhs)).DType);
        Assert.Throws<ArgumentException>(() => Mx.Linalg.Solve(a, Mx.AsType(Mx.Array(rhs), DType.Complex64)));
        for (int b = 0; b < B; b++)
        {
            var m = M(v, N, N, b * N * N);
            H.Close(Rows(m.Inverse()), inv[(b * N * N)..((b + 1) * N * N)], tol, tol, $"inverse {b}");
            H.Close(new[] { m.Determinant() }, new[] { det[b] }, tol, tol, $"det {b}");
            H.Close(m.Solve(Vector<double>.Build.Dense(rhs)).ToArray(), solved[(b * N)..((b + 1) * N)], tol, tol, $"solve {b}");
        }
    }

    [Fact]
    public void DeterminantSignsAndSingularMatrices()
    {
        // A permutation with an odd cycle structure (one swap): det -1; a 3-cycle: +1; a singular matrix: 0, log -inf.
        var swap = Mx.Array(new double[] { 0, 1, 0, 1, 0, 0, 0, 0, 1 }, new[] { 3, 3 });
        var cycle = Mx.Array(new double[] { 0, 1, 0, 0, 0, 1, 1, 0, 0 }, new[] { 3, 3 });
        Assert.Equal(-1.0, Mx.Linalg.Det(swap).Item<double>(), 12);
        Assert.Equal(1.0, Mx.Linalg.Det(cycle).Item<double>(), 12);
        var singular = Mx.Array(new double[] { 1, 2, 2, 4 }, new[] { 2, 2 });
        var (sign, log) = Mx.Linalg.Slogdet(singular);
        Assert.Equal(0.0, sign.Item<double>());
        Assert.Equal(double.NegativeInfinity, log.Item<double>());
        Assert.Throws<InvalidOperationException>(() => Mx.Eval(Mx.Linalg.Inv(singular)));
        Assert.Equal(1.0, Mx.Linalg.Det(Mx.Zeros(new[] { 0, 0 }, DType.Float64)).Item<double>());
        // The SVD of a 3 x 0 and a 0 x 2 matrix: identity U and Vt, no singular values.
        var tall = Mx.Linalg.Svd(Mx.Zeros(new[] { 3, 0 }, DType.Float64));
        Assert.Equal(Mx.Eye(3, dtype: DType.Float64).ToArray<double>(), tall[0].ToArray<double>());
        Assert.Equal(0, tall[1].Size);
        Assert.Equal(Mx.Eye(2, dtype: DType.Float64).ToArray<double>(), Mx.Linalg.Svd(Mx.Zeros(new[] { 0, 2 }, DType.Float64))[2].ToArray<double>());
        Assert.Throws<ArgumentException>(() => Mx.Linalg.Inv(Mx.Zeros(new[] { 2, 3 }, DType.Float64)));
        Assert.Throws<ArgumentException>(() => Mx.Linalg.Inv(Mx.Zeros(new[] { 2, 2 }, DType.Int32)));
        Assert.Throws<ArgumentException>(() => Mx.Linalg.Qr(Mx.Zeros(new[] { 4 })));
    }

    [Fact]
    public void CholeskyTriangularSolvesAndCholeskyInverse()
    {
        const int N = 6;
        var r = M(H.Rand(N * N, 3), N, N);
        var spd = r * r.Transpose() + Matrix<double>.Build.DenseIdentity(N) * N;
        var a = Mx.Array(Rows(spd), new[] { N, N });
        var l = D(Mx.Linalg.Cholesky(a));
        H.Close(Rows(spd.Cholesky().Factor), l, 1e-12, 1e-12, "L");
        var u = D(Mx.Linalg.Cholesky(a, upper: true));
        H.Close(Rows(spd.Cholesky().Factor.Transpose()), u, 1e-12, 1e-12, "U");
        // The upper triangle is not read.
        var lowerOnly = Mx.Array(Rows(spd).Select((x, i) => i % N > i / N ? 99.0 : x).ToArray(), new[] { N, N });
        H.Close(l, D(Mx.Linalg.Cholesky(lowerOnly)), 1e-12, 1e-12, "lower triangle only");
        H.Close(Rows(spd.Inverse()), D(Mx.Linalg.CholeskyInv(Mx.Linalg.Cholesky(a))), 1e-10, 1e-10, "cholesky_inv");
        H.Close(Rows(spd.Inverse()), D(Mx.Linalg.CholeskyInv(Mx.Linalg.Cholesky(a, true), upper: true)), 1e-10, 1e-10, "cholesky_inv upper");
        var lm = spd.Cholesky().Factor;
        var rhs = H.Rand(N * 2, 4);
        var x = D(Mx.Linalg.SolveTriangular(Mx.Array(l, new[] { N, N }), Mx.Array(rhs, new[] { N, 2 })));
        H.Close(Rows(lm.Solve(M(rhs, N, 2))), x, 1e-10, 1e-10, "solve_triangular lower");
        var xu = D(Mx.Linalg.SolveTriangular(Mx.Array(u, new[] { N, N }), Mx.Array(rhs, new[] { N, 2 }), upper: true));
        H.Close(Rows(lm.Transpose().Solve(M(rhs, N, 2))), xu, 1e-10, 1e-10, "solve_triangular upper");
        H.Close(Rows(lm.Inverse()), D(Mx.Linalg.TriInv(Mx.Array(l, new[] { N, N }))), 1e-10, 1e-10, "tri_inv");
        Assert.Throws<InvalidOperationException>(() => Mx.Eval(Mx.Linalg.Cholesky(Mx.Array(new double[] { 1, 2, 2, 1 }, new[] { 2, 2 }))));
    }

    [Theory]
    [InlineData(5, 3)]
    [InlineData(3, 5)]
    [InlineData(4, 4)]
    public void QrFactorsAreOrthonormalAndTriangular(int m, int n)
    {
        int k = Math.Min(m, n);
        var v = H.Rand(2 * m * n, m * 10 + n);
        var (q, r) = Mx.Linalg.Qr(Mx.Array(v, new[] { 2, m, n }));
        Assert.Equal(new[] { 2, m, k }, q.Shape);
        Assert.Equal(new[] { 2, k, n }, r.Shape);
        var qv = D(q);
        var rv = D(r);
        for (int b = 0; b < 2; b++)
        {
            var qm = M(qv, m, k, b * m * k);
            var rm = M(rv, k, n, b * k * n);
            H.Close(Rows(M(v, m, n, b * m * n)), Rows(qm * rm), 1e-12, 1e-12, "Q R");
            H.Close(Rows(Matrix<double>.Build.DenseIdentity(k)), Rows(qm.Transpose() * qm), 1e-12, 1e-12, "Q^T Q");
            for (int i = 0; i < k; i++)
                for (int j = 0; j < i; j++) Assert.Equal(0.0, rm[i, j]);
            // |diag R| is unique (signs are a convention); MathNet factors tall matrices only.
            if (m < n) continue;
            var want = M(v, m, n, b * m * n).QR().R;
            H.Close(Enumerable.Range(0, k).Select(i => Math.Abs(want[i, i])).ToArray(), Enumerable.Range(0, k).Select(i => Math.Abs(rm[i, i])).ToArray(), 1e-10, 1e-10, "|diag R|");
        }
    }

    [Theory]
    [InlineData(DType.Float64, 1e-10)]
    [InlineData(DType.Float32, 1e-4)]
    public void EighSolvesTheSymmetricEigenproblem(DType t, double tol)
    {
        const int N = 6;
        var r = M(H.Rand(N * N, 5), N, N);
        var sym = r + r.Transpose();
        var a = Mx.AsType(Mx.Array(Rows(sym), new[] { N, N }), t);
        var (w, vecs) = Mx.Linalg.Eigh(a);
        var want = sym.Evd().EigenValues.Select(c => c.Real).OrderBy(x => x).ToArray();
        H.Close(want, D(w), tol, tol, "eigenvalues");
        H.Close(want, D(Mx.Linalg.Eigvalsh(a)), tol, tol, "eigvalsh");
        var vm = M(D(vecs), N, N);
        H.Close(Rows(vm * Matrix<double>.Build.DiagonalOfDiagonalArray(D(w))), Rows(sym * vm), tol, tol, "A V = V diag(w)");
        H.Close(Rows(Matrix<double>.Build.DenseIdentity(N)), Rows(vm.Transpose() * vm), tol, tol, "V^T V");
        // "U" reads the upper triangle: the same matrix with garbage below the diagonal.
        var upperOnly = Mx.AsType(Mx.Array(Rows(sym).Select((x, i) => i % N < i / N ? -7.0 : x).ToArray(), new[] { N, N }), t);
        H.Close(want, D(Mx.Linalg.Eigvalsh(upperOnly, "U")), tol, tol, "UPLO U");
    }

    [Theory]
    [InlineData(5, 3)]
    [InlineData(3, 5)]
    [InlineData(4, 4)]
    public void SvdReconstructsWithOrthogonalFactors(int m, int n)
    {
        int k = Math.Min(m, n);
        var v = H.Rand(2 * m * n, m * 7 + n);
        var usv = Mx.Linalg.Svd(Mx.Array(v, new[] { 2, m, n }));
        Assert.Equal(new[] { 2, m, m }, usv[0].Shape);
        Assert.Equal(new[] { 2, k }, usv[1].Shape);
        Assert.Equal(new[] { 2, n, n }, usv[2].Shape);
        var (u, s, vt) = (D(usv[0]), D(usv[1]), D(usv[2]));
        for (int b = 0; b < 2; b++)
        {
            var a = M(v, m, n, b * m * n);
            var um = M(u, m, m, b * m * m);
            var vm = M(vt, n, n, b * n * n);
            var sm = Matrix<double>.Build.Dense(m, n);
            for (int i = 0; i < k; i++) sm[i, i] = s[b * k + i];
            H.Close(Rows(a), Rows(um * sm * vm), 1e-12, 1e-12, "U S Vt");
            H.Close(Rows(Matrix<double>.Build.DenseIdentity(m)), Rows(um.Transpose() * um), 1e-12, 1e-12, "U^T U");
            H.Close(Rows(Matrix<double>.Build.DenseIdentity(n)), Rows(vm * vm.Transpose()), 1e-12, 1e-12, "Vt Vt^T");
            H.Close(a.Svd().S.ToArray(), s[(b * k)..((b + 1) * k)], 1e-12, 1e-12, "singular values");
        }
        H.Close(s, D(Mx.Linalg.Svd(Mx.Array(v, new[] { 2, m, n }), computeUV: false)[0]), 1e-12, 1e-12, "S only");
    }

    [Fact]
    public void PinvOfARankDeficientMatrix()
    {
        // 5 x 3 of rank 2: the third column is the sum of the first two.
        var x = H.Rand(10, 6);
        var v = Enumerable.Range(0, 5).SelectMany(i => new[] { x[2 * i], x[2 * i + 1], x[2 * i] + x[2 * i + 1] }).ToArray();
        var want = M(v, 5, 3).PseudoInverse();
        var got = Mx.Linalg.Pinv(Mx.Array(v, new[] { 5, 3 }));
        Assert.Equal(new[] { 3, 5 }, got.Shape);
        H.Close(Rows(want), D(got), 1e-10, 1e-10, "pinv");
        Assert.Equal(new[] { 3, 0 }, Mx.Linalg.Pinv(Mx.Zeros(new[] { 0, 3 }, DType.Float64)).Shape);
    }

    [Fact]
    public void VectorAndMatrixNormsFollowMlx()
    {
        var v = H.Rand(7, 8);
        var x = Mx.Array(v);
        Assert.Equal(Math.Sqrt(v.Sum(t => t * t)), Mx.Linalg.Norm(x).Item<double>(), 12);
        Assert.Equal(v.Sum(Math.Abs), Mx.Linalg.Norm(x, 1.0).Item<double>(), 12);
        Assert.Equal(v.Max(Math.Abs), Mx.Linalg.Norm(x, double.PositiveInfinity).Item<double>(), 12);
        Assert.Equal(v.Min(Math.Abs), Mx.Linalg.Norm(x, double.NegativeInfinity).Item<double>(), 12);
        Assert.Equal(7.0, Mx.Linalg.Norm(x, 0.0).Item<double>());
        Assert.Equal(Math.Pow(v.Sum(t => Math.Pow(Math.Abs(t), 3)), 1.0 / 3), Mx.Linalg.Norm(x, 3.0).Item<double>(), 12);
        Assert.Equal(Math.Pow(v.Sum(t => Math.Sqrt(Math.Abs(t))), 2), Mx.Linalg.Norm(x, 0.5).Item<double>(), 10);
        // Integer input: a float32 result.
        Assert.Equal(DType.Float32, Mx.Linalg.Norm(Mx.Array(new[] { 3, 4 }), 1.0).DType);
        Assert.Equal(5f, Mx.Linalg.Norm(Mx.Array(new[] { 3, 4 })).Item<float>());

        var mv = H.Rand(4 * 6, 9);
        var m = M(mv, 4, 6);
        var a = Mx.Array(mv, new[] { 4, 6 });
        Assert.Equal(m.FrobeniusNorm(), Mx.Linalg.Norm(a, "fro").Item<double>(), 12);
        Assert.Equal(m.Svd().S.Sum(), Mx.Linalg.Norm(a, "nuc").Item<double>(), 10);
        Assert.Equal(m.L1Norm(), Mx.Linalg.Norm(a, 1.0).Item<double>(), 12);
        Assert.Equal(m.InfinityNorm(), Mx.Linalg.Norm(a, double.PositiveInfinity).Item<double>(), 12);
        Assert.Equal(m.L2Norm(), Mx.Linalg.Norm(a, 2.0).Item<double>(), 10);
        Assert.Equal(m.Svd().S.Min(), Mx.Linalg.Norm(a, -2.0).Item<double>(), 10);
        Assert.Equal(m.EnumerateColumns().Min(c => c.L1Norm()), Mx.Linalg.Norm(a, -1.0).Item<double>(), 12);
        Assert.Equal(m.EnumerateRows().Min(r => r.L1Norm()), Mx.Linalg.Norm(a, double.NegativeInfinity).Item<double>(), 12);
        // Axes (1, 0) are the transpose's: its 1-norm is the original's inf-norm.
        Assert.Equal(m.InfinityNorm(), Mx.Linalg.Norm(a, 1.0, new[] { 1, 0 }).Item<double>(), 12);

        // A batch of matrices over the last two axes, keepdims, and the 2-norm of a 3-D array flattened.
        var cube = H.Rand(3 * 4 * 6, 10);
        var c = Mx.Array(cube, new[] { 3, 4, 6 });
        var norms = Mx.Linalg.Norm(c, 1.0, new[] { 1, 2 }, keepdims: true);
        Assert.Equal(new[] { 3, 1, 1 }, norms.Shape);
        H.Close(Enumerable.Range(0, 3).Select(b => M(cube, 4, 6, b * 24).L1Norm()).ToArray(), norms.ToArray<double>(), 1e-12, 1e-12, "batched 1-norm");
        Assert.Equal(new[] { 1, 1, 1 }, Mx.Linalg.Norm(c, keepdims: true).Shape);
        Assert.Equal(Math.Sqrt(cube.Sum(t => t * t)), Mx.Linalg.Norm(c).Item<double>(), 12);
        H.Close(Enumerable.Range(0, 3).Select(b => M(cube, 4, 6, b * 24).L2Norm()).ToArray(), Mx.Linalg.Norm(c, 2.0, new[] { -2, -1 }).ToArray<double>(), 1e-10, 1e-10, "batched 2-norm");
        Assert.Throws<ArgumentException>(() => Mx.Linalg.Norm(c, 1.0));
        Assert.Throws<ArgumentException>(() => Mx.Linalg.Norm(a, 3.0, new[] { 0, 1 }));
        Assert.Throws<ArgumentException>(() => Mx.Linalg.Norm(x, "fro"));
    }

    [Fact]
    public void NormGradientIsTheUnitVector()
    {
        var v = H.Rand(5, 11);
        var g = Mx.Grad((MxArray x) => Mx.Linalg.Norm(x))(Mx.Array(v));
        double n = Math.Sqrt(v.Sum(t => t * t));
        H.Close(v.Select(t => t / n).ToArray(), g.ToArray<double>(), 1e-12, 1e-12, "d|x|/dx");
    }

    [Fact]
    public void CrossProducts()
    {
        var a = H.Rand(4 * 3, 12);
        var b = H.Rand(3, 13);
        var got = Mx.Linalg.Cross(Mx.Array(a, new[] { 4, 3 }), Mx.Array(b)).ToArray<double>();
        var want = Enumerable.Range(0, 4).SelectMany(i =>
        {
            double a0 = a[3 * i], a1 = a[3 * i + 1], a2 = a[3 * i + 2];
            return new[] { a1 * b[2] - a2 * b[1], a2 * b[0] - a0 * b[2], a0 * b[1] - a1 * b[0] };
        }).ToArray();
        H.Close(want, got, 1e-12, 1e-12, "batch x broadcast");
        // Along axis 0, and 2-vectors (third component zero).
        var col = Mx.Linalg.Cross(Mx.Array(new double[] { 1, 0, 0 }, new[] { 3, 1 }), Mx.Array(new double[] { 0, 1, 0 }, new[] { 3, 1 }), axis: 0);
        Assert.Equal(new[] { 3, 1 }, col.Shape);
        Assert.Equal(new double[] { 0, 0, 1 }, col.ToArray<double>());
        Assert.Equal(new double[] { 0, 0, 1 * 4 - 2 * 3 }, Mx.Linalg.Cross(Mx.Array(new double[] { 1, 2 }), Mx.Array(new double[] { 3, 4 })).ToArray<double>());
        Assert.Throws<ArgumentException>(() => Mx.Linalg.Cross(Mx.Array(new double[] { 1, 2, 3, 4 }), Mx.Array(new double[] { 1, 2, 3 })));
    }

    [Theory]
    [InlineData(4, 4)]
    [InlineData(5, 3)]
    [InlineData(3, 5)]
    public void LuReconstructsWithMlxsRowIndices(int m, int n)
    {
        int k = Math.Min(m, n);
        var v = H.Rand(2 * m * n, 20 + m * n);
        var a = Mx.Array(v, new[] { 2, m, n });
        var (p, l, u) = Mx.Linalg.Lu(a);
        Assert.Equal(new[] { 2, m }, p.Shape);
        Assert.Equal(DType.UInt32, p.DType);
        Assert.Equal(new[] { 2, m, k }, l.Shape);
        Assert.Equal(new[] { 2, k, n }, u.Shape);
        // MLX's reconstruction: take_along_axis(L, P[..., None], -2) @ U.
        var rebuilt = Mx.Matmul(Mx.TakeAlongAxis(l, Mx.ExpandDims(p, new[] { -1 }), -2), u);
        H.Close(v, D(rebuilt), 1e-12, 1e-12, "L[P] U");
        var lv = D(l);
        var uv = D(u);
        for (int b = 0; b < 2; b++)
        {
            for (int i = 0; i < m; i++)
                for (int j = 0; j < k; j++)
                {
                    double x = lv[b * m * k + i * k + j];
                    if (j > i) Assert.Equal(0.0, x);
                    if (j == i) Assert.Equal(1.0, x);
                    if (j < i) Assert.True(Math.Abs(x) <= 1 + 1e-12, "partial pivoting keeps |L| <= 1");
                }
            for (int i = 0; i < k; i++)
                for (int j = 0; j < i; j++) Assert.Equal(0.0, uv[b * k * n + i * n + j]);
        }
        var (lu, pivots) = Mx.Linalg.LuFactor(a);
        Assert.Equal(new[] { 2, k }, pivots.Shape);
        // The pivots, applied as swaps in order to the identity's rows, give the rows P.
        var piv = pivots.ToArray<uint>();
        var rows = p.ToArray<uint>();
        for (int b = 0; b < 2; b++)
        {
            var perm = Enumerable.Range(0, m).ToArray();
            for (int j = k - 1; j >= 0; j--) (perm[j], perm[(int)piv[b * k + j]]) = (perm[(int)piv[b * k + j]], perm[j]);
            Assert.Equal(perm.Select(x => (uint)x), rows[(b * m)..((b + 1) * m)]);
        }
        Assert.Equal(D(Mx.Add(Mx.Tril(lu, -1), Mx.Triu(lu))), D(lu));
    }

    [Fact]
    public void FactorizationsMapOverABatchAxis()
    {
        var v = Batch(3, 4, 21);
        var a = Mx.Array(v, new[] { 3, 4, 4 });
        var mapped = Mx.Vmap(xs => new[] { Mx.Linalg.Inv(xs[0]), Mx.Linalg.Qr(xs[0]).R })(new[] { a });
        H.Close(D(Mx.Linalg.Inv(a)), D(mapped[0]), 1e-12, 1e-12, "vmap inv");
        H.Close(D(Mx.Linalg.Qr(a).R), D(mapped[1]), 1e-12, 1e-12, "vmap qr");
        // The batching rule itself (not vmap's loop over the batch): one node over all three matrices.
        var one = Mx.Linalg.Qr(a[0]);
        var rule = new LinalgPrimitive(LinalgKind.Qr).Vmap(new[] { a }, new[] { true }, new[] { one.Q, one.R });
        Assert.NotNull(rule);
        Assert.Equal(new[] { 3, 4, 4 }, rule![1].Shape);
        H.Close(D(Mx.Linalg.Qr(a).R), D(rule[1]), 1e-12, 1e-12, "rule");
    }

    // Central differences of f at a (n x n, float64), entry by entry.
    private static double[] FiniteDifferences(Func<MxArray, MxArray> f, double[] a, int n)
    {
        var g = new double[a.Length];
        for (int i = 0; i < a.Length; i++)
        {
            const double h = 1e-6;
            var up = (double[])a.Clone();
            var down = (double[])a.Clone();
            up[i] += h;
            down[i] -= h;
            g[i] = (f(Mx.Array(up, new[] { n, n })).Item<double>() - f(Mx.Array(down, new[] { n, n })).Item<double>()) / (2 * h);
        }
        return g;
    }

    public static IEnumerable<object[]> GradientCases() =>
        new[] { "inv", "tri_inv", "tri_inv upper", "logdet", "cholesky", "cholesky upper", "eigvalsh", "eigh", "eigh U", "qr", "singular values", "nuclear norm", "spectral norm", "svd" }
            .Select(c => new object[] { c });

    [Theory]
    [MemberData(nameof(GradientCases))]
    public void GradientsMatchFiniteDifferences(string which)
    {
        const int N = 4;
        var r = M(H.Rand(N * N, 30), N, N);
        // Symmetric positive definite with distinct eigenvalues, and not symmetric in its stored upper triangle
        // (the symmetric factorizations must ignore it), except for the plain inverse and determinant.
        var spd = r * r.Transpose() + Matrix<double>.Build.DenseDiagonal(N, N, i => 1 + i);
        bool symmetricRead = which.StartsWith("tri") || which.StartsWith("cholesky") || which.StartsWith("eig");
        var a = Rows(spd).Select((x, i) => !symmetricRead ? x + 0.1 * (i % 3) : i % N > i / N ? x + 0.3 : x).ToArray();
        var w = Mx.Array(H.Rand(N * N, 31), new[] { N, N });
        var wv = Mx.Array(H.Rand(N, 32));
        Func<MxArray, MxArray> f = which switch
        {
            "inv" => x => Mx.Sum(Mx.Multiply(Mx.Linalg.Inv(x), w)),
            "tri_inv" => x => Mx.Sum(Mx.Multiply(Mx.Linalg.TriInv(x), w)),
            "tri_inv upper" => x => Mx.Sum(Mx.Multiply(Mx.Linalg.TriInv(x, upper: true), w)),
            "logdet" => x => Mx.Linalg.Slogdet(x).LogAbsDet,
            "cholesky" => x => Mx.Sum(Mx.Multiply(Mx.Linalg.Cholesky(x), w)),
            "cholesky upper" => x => Mx.Sum(Mx.Multiply(Mx.Linalg.Cholesky(x, upper: true), w)),
            "eigvalsh" => x => Mx.Sum(Mx.Multiply(Mx.Linalg.Eigvalsh(x), wv)),
            // Q and R up to the signs of R's diagonal: Householder's convention is fixed, so finite steps keep it.
            "qr" => x => { var (q, r) = Mx.Linalg.Qr(x); return Mx.Add(Mx.Sum(Mx.Multiply(q, w)), Mx.Sum(Mx.Multiply(r, Mx.SwapAxes(w, 0, 1)))); },
            "singular values" => x => Mx.Sum(Mx.Multiply(Mx.Linalg.Svd(x, computeUV: false)[0], wv)),
            "nuclear norm" => x => Mx.Linalg.Norm(x, "nuc"),
            // U diag(c) Vt and S: invariant under the sign flips of a singular pair.
            "svd" => x => { var usv = Mx.Linalg.Svd(x); return Mx.Add(Mx.Sum(Mx.Multiply(Mx.Matmul(Mx.Multiply(usv[0], wv), usv[2]), w)), Mx.Sum(Mx.Multiply(usv[1], wv))); },
            "spectral norm" => x => Mx.Linalg.Norm(x, 2.0),
            // Eigenvectors up to sign: a function of V V^T-like products that does not depend on the signs.
            "eigh" => x => { var (e, v) = Mx.Linalg.Eigh(x); return Mx.Add(Mx.Sum(Mx.Multiply(e, wv)), Mx.Sum(Mx.Multiply(Mx.Matmul(Mx.Multiply(v, wv), Mx.SwapAxes(v, 0, 1)), w))); },
            _ => x => { var (e, v) = Mx.Linalg.Eigh(x, "U"); return Mx.Add(Mx.Sum(Mx.Multiply(e, wv)), Mx.Sum(Mx.Multiply(Mx.Matmul(Mx.Multiply(v, wv), Mx.SwapAxes(v, 0, 1)), w))); },
        };
        if (which == "eigh U") a = Rows(spd).Select((x, i) => i % N < i / N ? x + 0.3 : x).ToArray();
        var got = Mx.Grad(f)(Mx.Array(a, new[] { N, N })).ToArray<double>();
        H.Close(FiniteDifferences(f, a, N), got, 1e-5, 1e-6, which);
    }

    [Theory]
    [InlineData(DType.Float64, 1e-5)] // complex64 results, whatever the input
    [InlineData(DType.Float32, 1e-4)]
    public void EigOfGeneralMatrices(DType t, double tol)
    {
        const int N = 6;
        var v = H.Rand(2 * N * N, 40);
        var a = Mx.AsType(Mx.Array(v, new[] { 2, N, N }), t);
        var (w, vecs) = Mx.Linalg.Eig(a);
        Assert.Equal(DType.Complex64, w.DType);
        Assert.Equal(new[] { 2, N }, w.Shape);
        Assert.Equal(new[] { 2, N, N }, vecs.Shape);
        var wv = w.ToArray<Complex64>();
        var vv = vecs.ToArray<Complex64>();
        var stored = a.ToArray<double>();
        for (int b = 0; b < 2; b++)
        {
            var m = M(stored, N, N, b * N * N);
            static (double, double) Key(System.Numerics.Complex c) => (Math.Round(c.Real, 4), Math.Round(c.Imaginary, 4));
            var want = m.Evd().EigenValues.OrderBy(Key).ToArray();
            var got = wv[(b * N)..((b + 1) * N)].Select(c => new System.Numerics.Complex(c.Real, c.Imag)).OrderBy(Key).ToArray();
            H.Close(want.SelectMany(c => new[] { c.Real, c.Imaginary }).ToArray(), got.SelectMany(c => new[] { c.Real, c.Imaginary }).ToArray(), tol, tol, $"eigenvalues {b}");
            for (int e = 0; e < N; e++)
            {
                var lambda = new System.Numerics.Complex(wv[b * N + e].Real, wv[b * N + e].Imag);
                var x = Enumerable.Range(0, N).Select(i => new System.Numerics.Complex(vv[b * N * N + i * N + e].Real, vv[b * N * N + i * N + e].Imag)).ToArray();
                Assert.Equal(1.0, Math.Sqrt(x.Sum(c => c.Magnitude * c.Magnitude)), 4);
                for (int i = 0; i < N; i++)
                {
                    var ax = System.Numerics.Complex.Zero;
                    for (int j = 0; j < N; j++) ax += m[i, j] * x[j];
                    Assert.True((ax - lambda * x[i]).Magnitude <= 10 * tol * (1 + lambda.Magnitude), $"A v = lambda v, matrix {b}, eigenvalue {e}, row {i}");
                }
            }
        }
        // A rotation by 90 degrees: eigenvalues +-i; eigvals alone.
        var rot = Mx.Linalg.Eigvals(Mx.Array(new double[] { 0, -1, 1, 0 }, new[] { 2, 2 })).ToArray<Complex64>();
        Assert.Equal(new[] { -1.0, 1.0 }, rot.Select(c => Math.Round((double)c.Imag, 6)).OrderBy(x => x).ToArray());
        Assert.All(rot, c => Assert.Equal(0.0, c.Real, 6));
    }

    [Fact]
    public void OneByOneRepeatedEigenvaluesAndNaN()
    {
        var one = Mx.Array(new double[] { 4 }, new[] { 1, 1 });
        Assert.Equal(0.25, Mx.Linalg.Inv(one).Item<double>());
        Assert.Equal(2.0, Mx.Linalg.Cholesky(one).Item<double>());
        Assert.Equal(4.0, Mx.Linalg.Eigvalsh(one).Item<double>());
        Assert.Equal(4.0, Mx.Linalg.Svd(one)[1].Item<double>());
        Assert.Equal(4.0, Mx.Linalg.Eigvals(one).ToArray<Complex64>()[0].Real);
        // A repeated eigenvalue: eig still gives independent eigenvectors (the identity's and a block's).
        var (_, v) = Mx.Linalg.Eig(Mx.Array(new double[] { 2, 0, 0, 0, 2, 0, 0, 0, 5 }, new[] { 3, 3 }));
        var vm = Matrix<double>.Build.Dense(3, 3, (i, j) => v.ToArray<Complex64>()[i * 3 + j].Real);
        Assert.True(Math.Abs(vm.Determinant()) > 0.9, $"eigenvectors not independent: det {vm.Determinant()}");
        // NaN: the iterative factorizations give NaN (as LAPACK) instead of a wrong or no answer.
        var nan = Mx.Array(new[] { 1, double.NaN, 2, 3 }, new[] { 2, 2 });
        Assert.All(Mx.Linalg.Svd(nan, computeUV: false)[0].ToArray<double>(), x => Assert.True(double.IsNaN(x)));
        Assert.All(Mx.Linalg.Eigvals(nan).ToArray<Complex64>(), c => Assert.True(float.IsNaN(c.Real)));
        Assert.All(Mx.Linalg.Inv(nan).ToArray<double>(), x => Assert.True(double.IsNaN(x)));
    }
}
