using System.Numerics.Tensors;

namespace Mlx.Kernels;

/// <summary>
/// Dense factorizations of one row-major matrix in double precision, for mlx.core.linalg on the CPU (float32 inputs
/// are widened by the caller): LU with partial pivoting (inverse, solve), Cholesky, triangular solves, Householder
/// QR, the symmetric eigenproblem by cyclic Jacobi rotations and the SVD by one-sided Jacobi (Hestenes). Jacobi
/// methods are slower than LAPACK's for large matrices but accurate to working precision and short to verify.
/// </summary>
public static class DenseLinalg
{
    /// <summary>
    /// LU with partial pivoting of A (m x n) in place, as LAPACK's getrf: unit-diagonal L below the diagonal, U on and
    /// above it; at step j row j was swapped with row <paramref name="pivots"/>[j] (min(m, n) entries, 0-based). A
    /// zero pivot leaves its column as it is and the factorization goes on; false then (A is singular).
    /// </summary>
    public static bool LuFactor(Span<double> a, int m, int n, Span<int> pivots)
    {
        bool regular = true;
        for (int j = 0; j < Math.Min(m, n); j++)
        {
            int p = j;
            double best = Math.Abs(a[j * n + j]);
            for (int i = j + 1; i < m; i++)
            {
                double v = Math.Abs(a[i * n + j]);
                if (v > best) (best, p) = (v, i);
            }
            pivots[j] = p;
            if (best == 0)
            {
                regular = false;
                continue;
            }
            if (p != j)
            {
                for (int c = 0; c < n; c++) (a[j * n + c], a[p * n + c]) = (a[p * n + c], a[j * n + c]);
            }
            double pivot = a[j * n + j];
            var pivotRow = a.Slice(j * n + j + 1, n - j - 1);
            for (int i = j + 1; i < m; i++)
            {
                double f = a[i * n + j] /= pivot;
                if (f == 0) continue;
                var row = a.Slice(i * n + j + 1, n - j - 1);
                TensorPrimitives.MultiplyAdd<double>(pivotRow, -f, row, row);
            }
        }
        return regular;
    }

    /// <summary>Solves A X = B (B n x nrhs, overwritten by X) from <see cref="LuFactor"/>'s factors of a regular square A.</summary>
    public static void LuSolve(ReadOnlySpan<double> lu, int n, ReadOnlySpan<int> pivots, Span<double> b, int nrhs)
    {
        for (int j = 0; j < n; j++)
        {
            int p = pivots[j];
            if (p == j) continue;
            for (int c = 0; c < nrhs; c++) (b[j * nrhs + c], b[p * nrhs + c]) = (b[p * nrhs + c], b[j * nrhs + c]);
        }
        SolveTriangular(lu, n, upper: false, b, nrhs, unitDiagonal: true);
        SolveTriangular(lu, n, upper: true, b, nrhs);
    }

    /// <summary>
    /// The Cholesky factor of the symmetric positive definite A in place, from A's lower triangle: L (lower, zeros
    /// above) or, when <paramref name="upper"/>, U = L^T; false when A is not positive definite.
    /// </summary>
    public static bool Cholesky(Span<double> a, int n, bool upper)
    {
        for (int j = 0; j < n; j++)
        {
            var rowJ = a.Slice(j * n, j);
            double d = a[j * n + j] - TensorPrimitives.Dot<double>(rowJ, rowJ);
            if (!(d > 0)) return false;
            double l = Math.Sqrt(d);
            a[j * n + j] = l;
            for (int i = j + 1; i < n; i++) a[i * n + j] = (a[i * n + j] - TensorPrimitives.Dot<double>(a.Slice(i * n, j), rowJ)) / l;
        }
        for (int i = 0; i < n; i++)
        {
            for (int j = i + 1; j < n; j++)
            {
                if (upper)
                {
                    a[i * n + j] = a[j * n + i];
                    a[j * n + i] = 0;
                }
                else
                {
                    a[i * n + j] = 0;
                }
            }
        }
        return true;
    }

    /// <summary>Solves T X = B in place for the triangle of T (n x n) named by <paramref name="upper"/>; B is n x nrhs.</summary>
    public static void SolveTriangular(ReadOnlySpan<double> t, int n, bool upper, Span<double> b, int nrhs, bool unitDiagonal = false)
    {
        for (int step = 0; step < n; step++)
        {
            int i = upper ? n - 1 - step : step;
            var row = b.Slice(i * nrhs, nrhs);
            int from = upper ? i + 1 : 0, to = upper ? n : i;
            for (int k = from; k < to; k++)
            {
                double f = t[i * n + k];
                if (f == 0) continue;
                TensorPrimitives.MultiplyAdd<double>(b.Slice(k * nrhs, nrhs), -f, row, row);
            }
            if (!unitDiagonal) TensorPrimitives.Divide<double>(row, t[i * n + i], row);
        }
    }

    /// <summary>
    /// The reduced QR of A (m x n): Q (m x k, orthonormal columns) and R (k x n, upper triangular), k = min(m, n), by
    /// Householder reflections.
    /// </summary>
    public static void Qr(ReadOnlySpan<double> a, int m, int n, Span<double> q, Span<double> r)
    {
        int k = Math.Min(m, n);
        var w = a.ToArray();
        var vs = new double[]?[k];
        for (int j = 0; j < k; j++) HouseholderColumn(w, m, n, j, out vs[j]);
        for (int i = 0; i < k; i++)
            for (int c = 0; c < n; c++)
                r[i * n + c] = c >= i ? w[i * n + c] : 0;
        // Q = H_0 H_1 ... H_{k-1} applied to the first k columns of the identity.
        var qa = new double[m * k];
        for (int i = 0; i < k; i++) qa[i * k + i] = 1;
        for (int j = k - 1; j >= 0; j--)
            if (vs[j] is { } v) Reflect(qa, k, j, m, 0, k, v);
        qa.CopyTo(q);
    }

    // Rows [from, to) of x (row length ld), columns [c0, c0 + v.Length), times H = I - 2 v v^T / (v^T v) from the
    // right: each row r -= (2 r.v / v^T v) v, along the rows.
    private static void ReflectRight(double[] x, int ld, int from, int to, int c0, double[] v)
    {
        double vv = TensorPrimitives.Dot<double>(v, v);
        if (vv == 0) return;
        for (int i = from; i < to; i++)
        {
            var row = x.AsSpan(i * ld + c0, v.Length);
            TensorPrimitives.MultiplyAdd<double>(v, -2 * TensorPrimitives.Dot<double>(row, v) / vv, row, row);
        }
    }

    // Rows [from, to) and columns [c0, c1) of x (row length ld) times H = I - 2 v v^T / (v^T v), v over those rows:
    // row-wise (t = v^T X, then X -= (2 / v^T v) v t), so that every pass runs along contiguous rows.
    private static void Reflect(double[] x, int ld, int from, int to, int c0, int c1, double[] v)
    {
        double vv = TensorPrimitives.Dot<double>(v, v);
        if (vv == 0) return;
        var t = new double[c1 - c0];
        for (int i = from; i < to; i++)
            if (v[i - from] != 0) TensorPrimitives.MultiplyAdd<double>(x.AsSpan(i * ld + c0, c1 - c0), v[i - from], t, t);
        double f = -2 / vv;
        for (int i = from; i < to; i++)
        {
            var row = x.AsSpan(i * ld + c0, c1 - c0);
            TensorPrimitives.MultiplyAdd<double>(t, f * v[i - from], row, row);
        }
    }

    /// <summary>
    /// Eigenvalues (ascending, into <paramref name="w"/>) and, when <paramref name="v"/> is not empty, eigenvectors
    /// (the columns of v, n x n) of the symmetric matrix given by the lower triangle of A: Householder reduction to a
    /// tridiagonal T = Z^T A Z, then implicitly shifted QL iterations on T with the rotations applied to Z (the
    /// EISPACK tred2 / tql2 method, O(n^3); cyclic Jacobi took 17 s for n = 512 where this takes well under one).
    /// </summary>
    public static void Eigh(ReadOnlySpan<double> a, int n, Span<double> w, Span<double> v)
    {
        var s = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
                s[i * n + j] = s[j * n + i] = a[i * n + j];
        // Z^T, so that both its Householder updates and the QL rotations (of Z's columns) run along contiguous rows;
        // not kept for the eigenvalues alone.
        bool vectors = !v.IsEmpty;
        var zt = vectors ? new double[n * n] : System.Array.Empty<double>();
        for (int i = 0; vectors && i < n; i++) zt[i * n + i] = 1;
        var p = new double[n];
        for (int k = 0; k < n - 2; k++)
        {
            var u = Reflector(Column(s, n, k + 1, n, k), out double alpha);
            if (u == null) continue;
            double beta = 2 / TensorPrimitives.Dot<double>(u, u);
            // H S H = S - u q^T - q u^T on the trailing block, p = beta S u, q = p - (beta u.p / 2) u.
            int len = n - k - 1;
            var pt = p.AsSpan(0, len);
            for (int i = 0; i < len; i++) pt[i] = beta * TensorPrimitives.Dot<double>(s.AsSpan((k + 1 + i) * n + k + 1, len), u);
            double kk = beta * TensorPrimitives.Dot<double>(u, pt) / 2;
            TensorPrimitives.MultiplyAdd<double>(u, -kk, pt, pt);
            for (int i = 0; i < len; i++)
            {
                var row = s.AsSpan((k + 1 + i) * n + k + 1, len);
                TensorPrimitives.MultiplyAdd<double>(pt, -u[i], row, row);
                TensorPrimitives.MultiplyAdd<double>(u, -pt[i], row, row);
            }
            s[(k + 1) * n + k] = s[k * n + k + 1] = alpha;
            for (int i = k + 2; i < n; i++) s[i * n + k] = s[k * n + i] = 0;
            // Z <- Z H, that is Z^T <- H Z^T.
            if (vectors) Reflect(zt, n, k + 1, n, 0, n, u);
        }
        var d = new double[n];
        var e = new double[n]; // e[i] couples i and i + 1
        for (int i = 0; i < n; i++) d[i] = s[i * n + i];
        for (int i = 0; i + 1 < n; i++) e[i] = s[(i + 1) * n + i];
        TridiagonalQl(d, e, zt, n);
        var order = Enumerable.Range(0, n).OrderBy(i => d[i]).ToArray();
        for (int j = 0; j < n; j++)
        {
            w[j] = d[order[j]];
            if (vectors)
                for (int i = 0; i < n; i++) v[i * n + j] = zt[order[j] * n + i];
        }
    }

    // Eigenvalues of the symmetric tridiagonal (d, e) into d by implicitly shifted QL sweeps, each sweep's rotations
    // applied to the rows of zt (n x n: the columns of Z).
    private static void TridiagonalQl(double[] d, double[] e, double[] zt, int n)
    {
        for (int l = 0; l < n; l++)
        {
            for (int iteration = 0; ; iteration++)
            {
                int m = l;
                for (; m < n - 1; m++)
                {
                    double dd = Math.Abs(d[m]) + Math.Abs(d[m + 1]);
                    if (Math.Abs(e[m]) <= 2.220446049250313e-16 * dd) break;
                }
                if (m == l) break;
                if (iteration == 100) throw new InvalidOperationException("[linalg.eigh] The QL iteration did not converge.");
                // The shift: the eigenvalue of the leading 2 x 2 block nearer d[l].
                double g = (d[l + 1] - d[l]) / (2 * e[l]);
                double r = double.Hypot(g, 1);
                g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
                double sn = 1, c = 1, p = 0;
                int i = m - 1;
                for (; i >= l; i--)
                {
                    double f = sn * e[i], b = c * e[i];
                    e[i + 1] = r = double.Hypot(f, g);
                    if (r == 0)
                    {
                        // Underflow: deflate and start over.
                        d[i + 1] -= p;
                        e[m] = 0;
                        break;
                    }
                    sn = f / r;
                    c = g / r;
                    g = d[i + 1] - p;
                    r = (d[i] - g) * sn + 2 * c * b;
                    p = sn * r;
                    d[i + 1] = g + p;
                    g = c * r - b;
                    // (z_i, z_{i+1}) <- (c z_i - s z_{i+1}, s z_i + c z_{i+1})
                    if (zt.Length > 0) Rotate(zt.AsSpan(i * n, n), zt.AsSpan((i + 1) * n, n), c, sn);
                }
                if (r == 0 && i >= l) continue;
                d[l] -= p;
                e[l] = g;
                e[m] = 0;
            }
        }
    }


    /// <summary>
    /// The SVD A = U diag(S) V^T of A (m x n): singular values descending into <paramref name="s"/> (min(m, n)) and,
    /// when <paramref name="u"/> is not empty, the full U (m x m) and V^T (n x n), by one-sided Jacobi rotations of the
    /// columns of A (of A^T when m &lt; n); U's columns past the rank are completed to an orthonormal basis.
    /// </summary>
    public static void Svd(ReadOnlySpan<double> a, int m, int n, Span<double> s, Span<double> u, Span<double> vt)
    {
        if (u.IsEmpty)
        {
            SingularValues(a, m, n, s);
            return;
        }
        bool wide = m < n;
        int rows = wide ? n : m, cols = wide ? m : n; // work on B = A or A^T, rows >= cols
        // B's columns and V's columns stored as contiguous rows (bc[j], vc[j]), so that each rotation and dot product
        // runs over consecutive memory.
        var bc = new double[cols * rows];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                if (wide) bc[i * rows + j] = a[i * n + j];
                else bc[j * rows + i] = a[i * n + j];
        var vc = new double[cols * cols];
        for (int i = 0; i < cols; i++) vc[i * cols + i] = 1;
        Span<double> B(int j) => bc.AsSpan(j * rows, rows);
        Span<double> V(int j) => vc.AsSpan(j * cols, cols);
        for (int sweep = 0; sweep < 100; sweep++)
        {
            bool rotated = false;
            for (int p = 0; p < cols - 1; p++)
            {
                for (int q = p + 1; q < cols; q++)
                {
                    double alpha = TensorPrimitives.Dot<double>(B(p), B(p)), beta = TensorPrimitives.Dot<double>(B(q), B(q));
                    double gamma = TensorPrimitives.Dot<double>(B(p), B(q));
                    if (gamma == 0 || Math.Abs(gamma) <= 1e-15 * Math.Sqrt(alpha * beta)) continue;
                    rotated = true;
                    var (c, sn) = Rotation((beta - alpha) / (2 * gamma));
                    Rotate(B(p), B(q), c, sn);
                    Rotate(V(p), V(q), c, sn);
                }
            }
            if (!rotated) break;
        }
        // Column norms are the singular values; sort descending.
        var norms = new double[cols];
        for (int j = 0; j < cols; j++) norms[j] = Math.Sqrt(TensorPrimitives.Dot<double>(B(j), B(j)));
        var order = Enumerable.Range(0, cols).OrderByDescending(j => norms[j]).ToArray();
        for (int j = 0; j < cols; j++) s[j] = norms[order[j]];
        if (u.IsEmpty) return;
        // B = Ub S Vb^T with Ub rows x rows (completed), Vb cols x cols.
        var ub = new double[rows * rows];
        int filled = 0;
        for (int j = 0; j < cols; j++)
        {
            double sj = norms[order[j]];
            if (sj <= 1e-300) break;
            var column = B(order[j]);
            for (int i = 0; i < rows; i++) ub[i * rows + j] = column[i] / sj;
            filled++;
        }
        CompleteBasis(ub, rows, filled);
        var vb = new double[cols * cols];
        for (int j = 0; j < cols; j++)
        {
            var column = V(order[j]);
            for (int i = 0; i < cols; i++) vb[i * cols + j] = column[i];
        }
        // A = B (tall) or B^T (wide): A = Ub S Vb^T, or A = Vb S Ub^T.
        var (uu, vv, um, vm) = wide ? (vb, ub, cols, rows) : (ub, vb, rows, cols);
        uu.AsSpan(0, um * um).CopyTo(u);
        for (int i = 0; i < vm; i++)
            for (int j = 0; j < vm; j++)
                vt[i * vm + j] = vv[j * vm + i];
    }

    // The singular values alone (descending): Householder bidiagonalization B = U^T A V, then the eigenvalues of the
    // Golub-Kahan tridiagonal [[0, B], [B^T, 0]] (zero diagonal, off-diagonal d0, e0, d1, e1, ...), which are +-s,
    // by the same QL iterations as eigh: O(m n^2), where the Jacobi sweeps cost tens of times more.
    private static void SingularValues(ReadOnlySpan<double> a, int m, int n, Span<double> s)
    {
        bool wide = m < n;
        int rows = wide ? n : m, cols = wide ? m : n;
        var b = new double[rows * cols];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                if (wide) b[j * cols + i] = a[i * n + j];
                else b[i * cols + j] = a[i * n + j];
        var d = new double[cols];
        var e = new double[cols];
        for (int k = 0; k < cols; k++)
        {
            d[k] = HouseholderColumn(b, rows, cols, k, out _);
            if (k < cols - 1) e[k] = HouseholderRow(b, rows, cols, k);
        }
        var td = new double[2 * cols];
        var te = new double[2 * cols];
        for (int k = 0; k < cols; k++)
        {
            te[2 * k] = Math.Abs(d[k]);
            if (k < cols - 1) te[2 * k + 1] = Math.Abs(e[k]);
        }
        TridiagonalQl(td, te, System.Array.Empty<double>(), 2 * cols);
        var sorted = td.OrderByDescending(x => x).ToArray();
        for (int k = 0; k < cols; k++) s[k] = Math.Max(sorted[k], 0);
    }

    // Zeroes column k of b (rows x cols) below the diagonal by a reflection from the left (its vector into v, null
    // when the column is zero already); returns the new b[k, k].
    private static double HouseholderColumn(double[] b, int rows, int cols, int k, out double[]? v)
    {
        v = Reflector(Column(b, cols, k, rows, k), out double alpha);
        if (v != null) Reflect(b, cols, k, rows, k, cols, v);
        return alpha;
    }

    // Zeroes row k of b beyond the superdiagonal by a reflection from the right; returns the new b[k, k + 1].
    private static double HouseholderRow(double[] b, int rows, int cols, int k)
    {
        var v = Reflector(b.AsSpan(k * cols + k + 1, cols - k - 1).ToArray(), out double alpha);
        if (v != null) ReflectRight(b, cols, k, rows, k + 1, v);
        return alpha;
    }

    // Rows [from, to) of column c of x (row length ld), as a new array.
    private static double[] Column(double[] x, int ld, int from, int to, int c)
    {
        var column = new double[to - from];
        for (int i = from; i < to; i++) column[i - from] = x[i * ld + c];
        return column;
    }

    // The Householder vector v (x in place, x[0] shifted) of the reflection that maps x to alpha e_0 (alpha = -sign(x_0)
    // |x|, so that nothing cancels); null when x is zero (alpha 0).
    private static double[]? Reflector(double[] x, out double alpha)
    {
        double norm = Math.Sqrt(TensorPrimitives.Dot<double>(x, x));
        alpha = x.Length == 0 || x[0] > 0 ? -norm : norm;
        if (norm == 0) return null;
        x[0] -= alpha;
        return x;
    }

    /// <summary>
    /// Eigenvalues of a general real matrix A (n x n) into <paramref name="w"/> and, when <paramref name="v"/> is not
    /// empty, right eigenvectors (columns of v, unit 2-norm, largest component real and positive): A is reduced to
    /// Hessenberg form by Householder reflections, the eigenvalues found by complex single-shift QR iterations with
    /// Wilkinson shifts (deflating at negligible subdiagonals), each eigenvector by inverse iteration on A - lambda I.
    /// The order of the eigenvalues is the order in which they deflate, bottom up (LAPACK's differs).
    /// </summary>
    public static void Eig(ReadOnlySpan<double> a, int n, Span<System.Numerics.Complex> w, Span<System.Numerics.Complex> v)
    {
        var h = new System.Numerics.Complex[n, n];
        var (hr, qt) = Hessenberg(a, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) h[i, j] = hr[i * n + j];
        double scale = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) scale = Math.Max(scale, h[i, j].Magnitude);
        int hi = n - 1, stuck = 0;
        while (hi >= 0)
        {
            int l = hi;
            while (l > 0 && h[l, l - 1].Magnitude > 1e-15 * (h[l - 1, l - 1].Magnitude + h[l, l].Magnitude + 1e-300 * scale)) l--;
            if (l == hi)
            {
                w[hi] = h[hi, hi];
                hi--;
                stuck = 0;
                continue;
            }
            if (++stuck > 1000 * n) throw new InvalidOperationException("[linalg.eig] The QR iteration did not converge.");
            // Wilkinson shift: the trailing 2 x 2 block's eigenvalue nearer its last diagonal entry (an exceptional
            // shift every 11 iterations in place of a cycle).
            var (p, q, r, t) = (h[hi - 1, hi - 1], h[hi - 1, hi], h[hi, hi - 1], h[hi, hi]);
            var disc = System.Numerics.Complex.Sqrt((p - t) * (p - t) / 4 + q * r);
            var mu1 = (p + t) / 2 + disc;
            var mu2 = (p + t) / 2 - disc;
            var mu = (mu1 - t).Magnitude < (mu2 - t).Magnitude ? mu1 : mu2;
            if (stuck % 11 == 10) mu = t + h[hi, hi - 1].Magnitude;
            for (int k = l; k <= hi; k++) h[k, k] -= mu;
            var rotations = new (System.Numerics.Complex C, System.Numerics.Complex S)[hi - l];
            for (int k = l; k < hi; k++)
            {
                // G = [[c, s], [-conj(s), conj(c)]] zeroing h[k + 1, k], applied to rows k, k + 1.
                var x = h[k, k];
                var y = h[k + 1, k];
                double norm = Math.Sqrt(x.Magnitude * x.Magnitude + y.Magnitude * y.Magnitude);
                var (c, sn) = norm == 0 ? (System.Numerics.Complex.One, System.Numerics.Complex.Zero) : (System.Numerics.Complex.Conjugate(x) / norm, System.Numerics.Complex.Conjugate(y) / norm);
                rotations[k - l] = (c, sn);
                for (int j = k; j <= hi; j++)
                {
                    var u = h[k, j];
                    var z = h[k + 1, j];
                    h[k, j] = c * u + sn * z;
                    h[k + 1, j] = -System.Numerics.Complex.Conjugate(sn) * u + System.Numerics.Complex.Conjugate(c) * z;
                }
            }
            // R Q: the conjugate transposes applied to columns k, k + 1.
            for (int k = l; k < hi; k++)
            {
                var (c, sn) = rotations[k - l];
                for (int i = l; i <= Math.Min(k + 2, hi); i++)
                {
                    var u = h[i, k];
                    var z = h[i, k + 1];
                    h[i, k] = u * System.Numerics.Complex.Conjugate(c) + z * System.Numerics.Complex.Conjugate(sn);
                    h[i, k + 1] = -u * sn + z * c;
                }
            }
            for (int k = l; k <= hi; k++) h[k, k] += mu;
        }
        if (v.IsEmpty) return;
        // Eigenvalues that coincide (to rounding) share an inverse iteration's fixed point: each starts from its own
        // unit vector and is made orthogonal to those already found for the same value (for the identity, the unit
        // vectors themselves).
        var found = new List<(System.Numerics.Complex Lambda, System.Numerics.Complex[] Y)>();
        for (int e = 0; e < n; e++)
        {
            var lambda = w[e];
            var twins = found.Where(f => (f.Lambda - lambda).Magnitude <= 1e-8 * Math.Max(scale, 1e-300)).Select(f => f.Y).ToList();
            var (x, y) = InverseIteration(hr, qt, n, lambda, scale, e, twins);
            found.Add((lambda, y));
            for (int i = 0; i < n; i++) v[i * n + e] = x[i];
        }
    }

    // Upper Hessenberg form H = Q^T A Q of A (n x n) by Householder reflections, and Q^T (row-major, n x n).
    private static (double[] H, double[] Qt) Hessenberg(ReadOnlySpan<double> a, int n)
    {
        var h = a.ToArray();
        var qt = new double[n * n];
        for (int i = 0; i < n; i++) qt[i * n + i] = 1;
        for (int k = 0; k < n - 2; k++)
        {
            var u = Reflector(Column(h, n, k + 1, n, k), out _);
            if (u == null) continue;
            // P H P: from the left on rows k+1.., from the right on columns k+1...
            Reflect(h, n, k + 1, n, 0, n, u);
            ReflectRight(h, n, 0, n, k + 1, u);
            Reflect(qt, n, k + 1, n, 0, n, u);
            for (int i = k + 2; i < n; i++) h[i * n + k] = 0; // zero up to rounding
        }
        return (h, qt);
    }


    // A unit eigenvector of A = Q H Q^T for the eigenvalue lambda: a few steps of inverse iteration on the Hessenberg
    // H - (lambda + delta) I (delta keeps it regular; an O(n^2) factorization, as only one subdiagonal is eliminated),
    // mapped back by Q, its largest component made real and positive.
    private static (System.Numerics.Complex[] X, System.Numerics.Complex[] Y) InverseIteration(double[] h, double[] qt, int n,
        System.Numerics.Complex lambda, double scale, int start, List<System.Numerics.Complex[]> twins)
    {
        var shift = lambda + new System.Numerics.Complex(1e-10 * Math.Max(scale, 1e-300), 0);
        var m = new System.Numerics.Complex[n * n];
        for (int i = 0; i < n; i++)
            for (int j = Math.Max(0, i - 1); j < n; j++) m[i * n + j] = h[i * n + j] - (i == j ? shift : System.Numerics.Complex.Zero);
        // LU with partial pivoting between rows k and k + 1 (the only nonzero entries of column k at or below k).
        var swapped = new bool[n];
        var factor = new System.Numerics.Complex[n];
        for (int k = 0; k < n - 1; k++)
        {
            if (m[(k + 1) * n + k].Magnitude > m[k * n + k].Magnitude)
            {
                for (int j = k; j < n; j++) (m[k * n + j], m[(k + 1) * n + j]) = (m[(k + 1) * n + j], m[k * n + j]);
                swapped[k] = true;
            }
            if (m[k * n + k] == System.Numerics.Complex.Zero) m[k * n + k] = new System.Numerics.Complex(1e-300, 0);
            var f = factor[k] = m[(k + 1) * n + k] / m[k * n + k];
            for (int j = k + 1; j < n; j++) m[(k + 1) * n + j] -= f * m[k * n + j];
        }
        if (m[(n - 1) * n + n - 1] == System.Numerics.Complex.Zero) m[(n - 1) * n + n - 1] = new System.Numerics.Complex(1e-300, 0);
        var y = Enumerable.Range(0, n).Select(i => new System.Numerics.Complex((i == start ? 1 : 0) + 1e-3 * (1 + 0.1 * i), 0)).ToArray();
        for (int iteration = 0; iteration < 3; iteration++)
        {
            for (int k = 0; k < n - 1; k++)
            {
                if (swapped[k]) (y[k], y[k + 1]) = (y[k + 1], y[k]);
                y[k + 1] -= factor[k] * y[k];
            }
            for (int i = n - 1; i >= 0; i--)
            {
                for (int j = i + 1; j < n; j++) y[i] -= m[i * n + j] * y[j];
                y[i] /= m[i * n + i];
            }
            foreach (var t in twins)
            {
                var dot = System.Numerics.Complex.Zero;
                for (int i = 0; i < n; i++) dot += System.Numerics.Complex.Conjugate(t[i]) * y[i];
                for (int i = 0; i < n; i++) y[i] -= dot * t[i];
            }
            double norm = Math.Sqrt(y.Sum(c => c.Magnitude * c.Magnitude));
            for (int i = 0; i < n; i++) y[i] /= norm;
        }
        // x = Q y = Qt^T y.
        var x = new System.Numerics.Complex[n];
        for (int j = 0; j < n; j++)
            for (int i = 0; i < n; i++) x[i] += qt[j * n + i] * y[j];
        int largest = 0;
        for (int i = 1; i < n; i++) if (x[i].Magnitude > x[largest].Magnitude) largest = i;
        var phase = System.Numerics.Complex.Conjugate(x[largest]) / x[largest].Magnitude;
        return (x.Select(c => c * phase).ToArray(), y);
    }

    /// <summary>The Jacobi rotation (cos, sin) that zeroes the (p, q) entry, from theta = (a_qq - a_pp) / (2 a_pq): the smaller angle.</summary>
    private static (double C, double S) Rotation(double theta)
    {
        double t = theta == 0 ? 1 : Math.Sign(theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
        double c = 1 / Math.Sqrt(t * t + 1);
        return (c, t * c);
    }

    /// <summary>x &lt;- c x - s y, y &lt;- s x + c y.</summary>
    private static void Rotate(Span<double> x, Span<double> y, double c, double s)
    {
        int i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            int width = System.Numerics.Vector<double>.Count;
            var vc = new System.Numerics.Vector<double>(c);
            var vs = new System.Numerics.Vector<double>(s);
            for (; i + width <= x.Length; i += width)
            {
                var xv = new System.Numerics.Vector<double>(x[i..]);
                var yv = new System.Numerics.Vector<double>(y[i..]);
                (vc * xv - vs * yv).CopyTo(x[i..]);
                (vs * xv + vc * yv).CopyTo(y[i..]);
            }
        }
        for (; i < x.Length; i++)
        {
            double xi = x[i], yi = y[i];
            x[i] = c * xi - s * yi;
            y[i] = s * xi + c * yi;
        }
    }

    // Columns [filled, n) of the n x n matrix q made orthonormal to the first ones (Gram-Schmidt on unit vectors, twice).
    private static void CompleteBasis(double[] q, int n, int filled)
    {
        for (int e = 0; filled < n && e < n; e++)
        {
            var x = new double[n];
            x[e] = 1;
            for (int pass = 0; pass < 2; pass++)
            {
                for (int j = 0; j < filled; j++)
                {
                    double dot = 0;
                    for (int i = 0; i < n; i++) dot += q[i * n + j] * x[i];
                    for (int i = 0; i < n; i++) x[i] -= dot * q[i * n + j];
                }
            }
            double norm = Math.Sqrt(x.Sum(t => t * t));
            if (norm < 1e-8) continue;
            for (int i = 0; i < n; i++) q[i * n + filled] = x[i] / norm;
            filled++;
        }
    }
}
