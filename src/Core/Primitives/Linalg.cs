using Mlx.Kernels;

namespace Mlx;

/// <summary>What a <see cref="LinalgPrimitive"/> computes for each matrix of its batch.</summary>
internal enum LinalgKind
{
    Inverse, TriangularInverse, Cholesky, Qr, Eigh, Eigvalsh, Svd, SingularValues, Slogdet, Lu, Eig, Eigvals,
}

/// <summary>
/// mlx.core.linalg's factorizations over the last two dims, batched over the others, on the host in double precision
/// (<see cref="DenseLinalg"/>): float32 is widened and rounded back. Inputs are float32 or float64 (checked by the ops).
/// Placed on the GPU they run on the host.
/// </summary>
internal sealed unsafe class LinalgPrimitive(LinalgKind kind, bool upper = false) : Primitive
{
    public LinalgKind Kind { get; } = kind;

    public bool Upper { get; } = upper;

    public override string Name => Kind.ToString();

    public override bool IsEquivalent(Primitive other) => other is LinalgPrimitive p && p.Kind == Kind && p.Upper == Upper;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var a = Read(inputs[0]);
        var shape = inputs[0].ShapeRef;
        int m = shape[^2], n = shape[^1];
        long batch = m * n == 0 ? 0 : a.Length / ((long)m * n);
        var results = outputs.Select(o => new double[o.Size * (o.DType == DType.Complex64 ? 2 : 1)]).ToArray();
        if (m * n == 0)
        {
            // Empty matrices: det 1 (sign 1, log 0); U of an m x 0 matrix and Vt of a 0 x n one are identities.
            if (Kind == LinalgKind.Slogdet) Array.Fill(results[0], 1.0);
            if (Kind == LinalgKind.Svd)
            {
                foreach (var (k, d) in new[] { (0, m), (2, n) })
                    if (d > 0)
                        for (long start = 0; start < results[k].Length; start += (long)d * d)
                            for (int r = 0; r < d; r++) results[k][start + r * d + r] = 1;
            }
        }
        for (long i = 0; i < batch; i++)
        {
            var matrix = a.AsSpan((int)(i * m * n), m * n);
            Span<double> Out(int k) => results[k].AsSpan((int)(i * (results[k].Length / batch)), (int)(results[k].Length / batch));
            if (Kind is LinalgKind.Svd or LinalgKind.SingularValues or LinalgKind.Eig or LinalgKind.Eigvals && HasNaN(matrix))
            {
                // The iterations would not converge (or would read past the NaN): NaN results, as LAPACK's.
                for (int k = 0; k < outputs.Length; k++) Out(k).Fill(double.NaN);
                continue;
            }
            switch (Kind)
            {
                case LinalgKind.Inverse:
                {
                    var lu = matrix.ToArray();
                    var pivots = new int[n];
                    if (!DenseLinalg.LuFactor(lu, n, n, pivots)) throw new InvalidOperationException("[linalg.inv] The matrix is singular.");
                    var x = Out(0);
                    x.Clear();
                    for (int r = 0; r < n; r++) x[r * n + r] = 1;
                    DenseLinalg.LuSolve(lu, n, pivots, x, n);
                    break;
                }
                case LinalgKind.TriangularInverse:
                {
                    var x = Out(0);
                    x.Clear();
                    for (int r = 0; r < n; r++) x[r * n + r] = 1;
                    for (int r = 0; r < n; r++)
                        if (matrix[r * n + r] == 0) throw new InvalidOperationException("[linalg.tri_inv] The matrix is singular.");
                    DenseLinalg.SolveTriangular(matrix, n, Upper, x, n);
                    break;
                }
                case LinalgKind.Cholesky:
                {
                    var x = Out(0);
                    matrix.CopyTo(x);
                    if (!DenseLinalg.Cholesky(x, n, Upper)) throw new InvalidOperationException("[linalg.cholesky] The matrix is not positive definite.");
                    break;
                }
                case LinalgKind.Slogdet:
                {
                    // sign(det) and log|det| from the LU factors: a sign flip per row swap, times the pivots' signs.
                    var lu = matrix.ToArray();
                    var pivots = new int[n];
                    bool regular = DenseLinalg.LuFactor(lu, n, n, pivots);
                    double sign = 1, logAbs = 0;
                    for (int r = 0; r < n; r++)
                    {
                        sign *= Math.Sign(lu[r * n + r]) * (pivots[r] != r ? -1 : 1);
                        logAbs += Math.Log(Math.Abs(lu[r * n + r]));
                    }
                    Out(0)[0] = regular ? sign : 0;
                    Out(1)[0] = regular ? logAbs : double.NegativeInfinity;
                    break;
                }
                case LinalgKind.Lu:
                {
                    // MLX's outputs: the factors in one matrix, getrf's pivots, and the rows P with A = L[P] U.
                    var lu = Out(0);
                    matrix.CopyTo(lu);
                    int k = Math.Min(m, n);
                    var pivots = new int[k];
                    DenseLinalg.LuFactor(lu, m, n, pivots);
                    var rows = Enumerable.Range(0, m).ToArray();
                    for (int j = k - 1; j >= 0; j--) (rows[j], rows[pivots[j]]) = (rows[pivots[j]], rows[j]);
                    for (int j = 0; j < k; j++) Out(1)[j] = pivots[j];
                    for (int j = 0; j < m; j++) Out(2)[j] = rows[j];
                    break;
                }
                case LinalgKind.Eig or LinalgKind.Eigvals:
                {
                    // Complex results, stored as (real, imaginary) pairs of doubles here.
                    var w = new System.Numerics.Complex[n];
                    var v = Kind == LinalgKind.Eig ? new System.Numerics.Complex[n * n] : System.Array.Empty<System.Numerics.Complex>();
                    DenseLinalg.Eig(matrix, n, w, v);
                    for (int j = 0; j < n; j++) (Out(0)[2 * j], Out(0)[2 * j + 1]) = (w[j].Real, w[j].Imaginary);
                    for (int j = 0; j < v.Length; j++) (Out(1)[2 * j], Out(1)[2 * j + 1]) = (v[j].Real, v[j].Imaginary);
                    break;
                }
                case LinalgKind.Qr:
                    DenseLinalg.Qr(matrix, m, n, Out(0), Out(1));
                    break;
                case LinalgKind.Eigh:
                    DenseLinalg.Eigh(matrix, n, Out(0), Out(1));
                    break;
                case LinalgKind.Eigvalsh:
                    DenseLinalg.Eigh(matrix, n, Out(0), default);
                    break;
                case LinalgKind.Svd:
                    DenseLinalg.Svd(matrix, m, n, Out(1), Out(0), Out(2));
                    break;
                default:
                    DenseLinalg.Svd(matrix, m, n, Out(0), default, default);
                    break;
            }
        }
        for (int k = 0; k < outputs.Length; k++) Write(outputs[k], results[k]);
    }

    /// <summary>
    /// Gradients of the inverses, slogdet, Cholesky and the symmetric eigenproblem (MLX has none; these are PyTorch's
    /// formulas): inv: -Y^T G Y^T; tri_inv: that, on the triangle read; log|det|: G A^-T; Cholesky (Murray 2016):
    /// S = L^-T Phi(L^T Lbar) L^-1; eigh: V (diag(wbar) + F o (V^T Vbar)) V^T with F_ij = 1 / (w_j - w_i). The
    /// factorizations read one triangle of a symmetric input, so their gradient is taken with respect to it: G + G^T
    /// below the diagonal, G on it. QR (tall or square): (Qbar + Q N) R^-T with N the upper triangle of Rbar R^T -
    /// Q^T Qbar mirrored; singular values alone: U diag(Sbar) Vt; the SVD of a square matrix (Townsend's formula).
    /// LU, eig and the SVD of a rectangular matrix have none.
    /// </summary>
    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        var a = primals[0];
        MxArray grad;
        switch (Kind)
        {
            case LinalgKind.Inverse:
                grad = Mx.Negative(Mx.Matmul(Mx.Matmul(T(outputs[0]), cotangents[0]), T(outputs[0])));
                break;
            case LinalgKind.TriangularInverse:
            {
                var full = Mx.Negative(Mx.Matmul(Mx.Matmul(T(outputs[0]), cotangents[0]), T(outputs[0])));
                grad = Upper ? Mx.Triu(full) : Mx.Tril(full);
                break;
            }
            case LinalgKind.Slogdet:
                grad = Mx.Multiply(Mx.ExpandDims(cotangents[1], new[] { -1, -2 }), T(Mx.Linalg.Inv(a)));
                break;
            case LinalgKind.Cholesky:
            {
                // With U = L^T, U's cotangent is L's transposed.
                var l = Upper ? T(outputs[0]) : outputs[0];
                var lbar = Upper ? T(cotangents[0]) : cotangents[0];
                var linv = Mx.Linalg.TriInv(l);
                var phi = Phi(Mx.Matmul(T(l), lbar));
                grad = LowerOfSymmetric(Mx.Matmul(Mx.Matmul(T(linv), phi), linv));
                break;
            }
            case LinalgKind.Eigh or LinalgKind.Eigvalsh:
            {
                var (w, v) = Kind == LinalgKind.Eigh ? (outputs[0], outputs[1]) : Mx.Linalg.Eigh(a);
                var inner = Mx.Multiply(Mx.Eye(a.ShapeRef[^1], dtype: a.DType), Mx.ExpandDims(cotangents[0], new[] { -2 }));
                if (Kind == LinalgKind.Eigh)
                {
                    // F_ij = 1 / (w_j - w_i) off the diagonal (eigenvalues assumed distinct), 0 on it.
                    var diff = Mx.Subtract(Mx.ExpandDims(w, new[] { -2 }), Mx.ExpandDims(w, new[] { -1 }));
                    var eye = Mx.Eye(a.ShapeRef[^1], dtype: a.DType);
                    var f = Mx.Where(Mx.Greater(eye, 0.5), Mx.ZerosLike(diff), Mx.Reciprocal(Mx.Add(diff, eye)));
                    inner = Mx.Add(inner, Mx.Multiply(f, Mx.Matmul(T(v), cotangents[1])));
                }
                grad = LowerOfSymmetric(Mx.Matmul(Mx.Matmul(v, inner), T(v)));
                break;
            }
            case LinalgKind.Qr:
            {
                // A = QR, m >= n: Abar = (Qbar + Q N) R^-T, N = M's upper triangle mirrored below, M = Rbar R^T - Q^T Qbar.
                if (a.ShapeRef[^2] < a.ShapeRef[^1]) throw new NotSupportedException("linalg qr has a gradient for tall or square matrices only.");
                var (q, r) = (outputs[0], outputs[1]);
                var m = Mx.Subtract(Mx.Matmul(cotangents[1], T(r)), Mx.Matmul(T(q), cotangents[0]));
                var n = Mx.Add(Mx.Triu(m), T(Mx.Triu(m, 1)));
                grad = Mx.Matmul(Mx.Add(cotangents[0], Mx.Matmul(q, n)), T(Mx.Linalg.TriInv(r, upper: true)));
                break;
            }
            case LinalgKind.SingularValues:
            {
                // dS_i = u_i^T dA v_i (distinct singular values): Abar = U_k diag(Sbar) Vt_k.
                int k = Math.Min(a.ShapeRef[^2], a.ShapeRef[^1]);
                var usv = Mx.Linalg.Svd(a);
                int[] Stop(MxArray x, int rows, int cols)
                {
                    var stop = x.Shape;
                    (stop[^2], stop[^1]) = (rows, cols);
                    return stop;
                }
                var u = Mx.Slice(usv[0], new int[a.NDim], Stop(usv[0], a.ShapeRef[^2], k));
                var vt = Mx.Slice(usv[2], new int[a.NDim], Stop(usv[2], k, a.ShapeRef[^1]));
                grad = Mx.Matmul(Mx.Multiply(u, Mx.ExpandDims(cotangents[0], new[] { -2 })), vt);
                break;
            }
            case LinalgKind.Svd:
            {
                // Square A = U S V^T with distinct singular values (Townsend 2016): Abar = U [diag(Sbar) + (F o (U^T Ubar -
                // Ubar^T U)) S + S (F o (V^T Vbar - Vbar^T V))] V^T, F_ij = 1 / (s_j^2 - s_i^2) off the diagonal.
                if (a.ShapeRef[^2] != a.ShapeRef[^1]) throw new NotSupportedException("linalg svd has a gradient for square matrices only (U and Vt are full).");
                var (u, sv, vt) = (outputs[0], outputs[1], outputs[2]);
                var v = T(vt);
                var vbar = T(cotangents[2]);
                var eye = Mx.Eye(a.ShapeRef[^1], dtype: a.DType);
                var s2 = Mx.Square(sv);
                var diff = Mx.Subtract(Mx.ExpandDims(s2, new[] { -2 }), Mx.ExpandDims(s2, new[] { -1 }));
                var f = Mx.Where(Mx.Greater(eye, 0.5), Mx.ZerosLike(diff), Mx.Reciprocal(Mx.Add(diff, eye)));
                var utu = Mx.Matmul(T(u), cotangents[0]);
                var vtv = Mx.Matmul(T(v), vbar);
                var sRow = Mx.ExpandDims(sv, new[] { -2 }); // scales columns: X S
                var sCol = Mx.ExpandDims(sv, new[] { -1 }); // scales rows: S X
                var inner = Mx.Add(
                    Mx.Add(Mx.Multiply(eye, Mx.ExpandDims(cotangents[1], new[] { -2 })), Mx.Multiply(Mx.Multiply(f, Mx.Subtract(utu, T(utu))), sRow)),
                    Mx.Multiply(sCol, Mx.Multiply(f, Mx.Subtract(vtv, T(vtv)))));
                grad = Mx.Matmul(Mx.Matmul(u, inner), vt);
                break;
            }
            default:
                throw new NotSupportedException($"linalg {Kind} has no gradient.");
        }
        return argnums.Select(_ => grad).ToArray();
    }

    private static MxArray T(MxArray x) => Mx.SwapAxes(x, -1, -2);

    // The lower triangle with its diagonal halved.
    private static MxArray Phi(MxArray x) => Mx.Subtract(Mx.Tril(x), Mx.Multiply(Mx.Multiply(x, Mx.Eye(x.ShapeRef[^1], dtype: x.DType)), 0.5));

    // The gradient with respect to the lower triangle that the kernel reads, from the gradient G with respect to every
    // entry of the symmetric matrix it builds from it: G + G^T below the diagonal, G on it, zero above.
    private static MxArray LowerOfSymmetric(MxArray g) =>
        Mx.Subtract(Mx.Tril(Mx.Add(g, T(g))), Mx.Multiply(g, Mx.Eye(g.ShapeRef[^1], dtype: g.DType)));

    /// <summary>The kernel batches over every leading dim, so a mapped axis in front is one more batch dim.</summary>
    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs)
    {
        var a = inputs[0];
        var shapes = outputs.Select(o => new[] { a.ShapeRef[0] }.Concat(o.ShapeRef).ToArray()).ToArray();
        return MxArray.Create(shapes, outputs.Select(o => o.DType).ToArray(), this, new[] { a });
    }

    private static bool HasNaN(ReadOnlySpan<double> values)
    {
        foreach (double v in values)
            if (double.IsNaN(v)) return true;
        return false;
    }

    private static double[] Read(MxArray x)
    {
        var c = Cast.Contiguous(x);
        try
        {
            var values = new double[c.Size];
            if (c.DType == DType.Float64) new ReadOnlySpan<double>(c.Ptr<double>(), values.Length).CopyTo(values);
            else for (int i = 0; i < values.Length; i++) values[i] = c.Ptr<float>()[i];
            return values;
        }
        finally
        {
            if (!ReferenceEquals(c, x)) c.Buffer.Release();
        }
    }

    private static void Write(MxArray o, double[] values)
    {
        o.AllocateData();
        if (o.DType == DType.Float64) values.CopyTo(new Span<double>(o.Ptr<double>(), values.Length));
        else if (o.DType == DType.UInt32) for (int i = 0; i < values.Length; i++) o.Ptr<uint>()[i] = (uint)values[i];
        else if (o.DType == DType.Complex64) for (int i = 0; i < values.Length; i++) ((float*)o.Ptr<Complex64>())[i] = (float)values[i];
        else for (int i = 0; i < values.Length; i++) o.Ptr<float>()[i] = (float)values[i];
    }
}
