namespace Mlx;

public static partial class Mx
{
    /// <summary>
    /// mlx.core.linalg: norms and cross products built from ops (so differentiable), and the factorizations (inv,
    /// cholesky, qr, svd, eigh, lu, determinants) as host kernels in double precision over the last two dims, batched
    /// over the others, with gradients for inv, tri_inv, slogdet, cholesky and eigh (LinalgPrimitive.Vjp). Inputs of
    /// the factorizations are float32 or float64, as MLX asks; unlike MLX, a GPU stream is accepted (they run on the host).
    /// </summary>
    public static class Linalg
    {
        /// <summary>The 2-norm of the flattened array, or over <paramref name="axis"/> (one axis: vector, two: Frobenius).</summary>
        public static MxArray Norm(MxArray a, int[]? axis = null, bool keepdims = false, StreamOrDevice? stream = null)
        {
            if (axis == null)
            {
                var flat = Norm(Reshape(a, new[] { -1 }, stream), new[] { 0 }, keepdims, stream);
                return keepdims ? Reshape(flat, Enumerable.Repeat(1, a.NDim).ToArray(), stream) : flat;
            }
            if (axis.Length > 2) throw new ArgumentException("[linalg.norm] Received too many axes for norm.");
            return L2(a, axis, keepdims, stream);
        }

        /// <summary>
        /// The norm of order <paramref name="ord"/>: over one axis a vector norm (inf: max |x|, -inf: min |x|, 0: count
        /// of nonzeros, p: (sum |x|^p)^(1/p)); over two a matrix norm (1 / -1: max / min column sum of |x|, inf / -inf:
        /// max / min row sum, 2 / -2: largest / smallest singular value). No axis: all of a's (1 or 2) dims.
        /// </summary>
        public static MxArray Norm(MxArray a, double ord, int[]? axis = null, bool keepdims = false, StreamOrDevice? stream = null)
        {
            var ax = axis ?? Enumerable.Range(0, a.NDim).ToArray();
            var dtype = AtLeastFloat(a.DType);
            if (ax.Length == 1)
            {
                if (ord == 2) return L2(a, ax, keepdims, stream);
                var abs = Abs(a, stream);
                MxArray result = ord switch
                {
                    0 => Sum(NotEqual(a, Array(0), stream), ax, keepdims, stream),
                    1 => Sum(abs, ax, keepdims, stream),
                    double.PositiveInfinity => Max(abs, ax, keepdims, stream),
                    double.NegativeInfinity => Min(abs, ax, keepdims, stream),
                    _ => Power(Sum(Power(abs, Array(ord, dtype), stream), ax, keepdims, stream), Array(1 / ord, dtype), stream),
                };
                return AsType(result, dtype, stream);
            }
            if (ax.Length != 2) throw new ArgumentException("[linalg.norm] Received too many axes for norm.");
            int row = ax[0] < 0 ? ax[0] + a.NDim : ax[0], col = ax[1] < 0 ? ax[1] + a.NDim : ax[1];
            switch (ord)
            {
                case 1 or -1:
                {
                    if (!keepdims && col > row && col > 0) col--;
                    var sums = Sum(Abs(a, stream), new[] { row }, keepdims, stream);
                    return AsType(ord == 1 ? Max(sums, new[] { col }, keepdims, stream) : Min(sums, new[] { col }, keepdims, stream), dtype, stream);
                }
                case double.PositiveInfinity or double.NegativeInfinity:
                {
                    if (!keepdims && row > col && row > 0) row--;
                    var sums = Sum(Abs(a, stream), new[] { col }, keepdims, stream);
                    return AsType(ord > 0 ? Max(sums, new[] { row }, keepdims, stream) : Min(sums, new[] { row }, keepdims, stream), dtype, stream);
                }
                case 2 or -2:
                {
                    var s = Svd(MatrixLast(a, row, col, stream), computeUV: false, stream)[0];
                    s = ord == 2 ? Max(s, new[] { -1 }, false, stream) : Min(s, new[] { -1 }, false, stream);
                    return AsType(keepdims ? ExpandDims(s, new[] { Math.Min(row, col), Math.Max(row, col) }, stream) : s, dtype, stream);
                }
                default:
                    throw new ArgumentException($"[linalg.norm] Invalid ord {ord} for matrix norm.");
            }
        }

        /// <summary>The matrix norm "fro" (or "f": Frobenius) or "nuc" (the sum of the singular values) over two axes.</summary>
        public static MxArray Norm(MxArray a, string ord, int[]? axis = null, bool keepdims = false, StreamOrDevice? stream = null)
        {
            var ax = axis ?? Enumerable.Range(0, a.NDim).ToArray();
            if (ax.Length != 2) throw new ArgumentException($"[linalg.norm] Norm '{ord}' only supported for matrices, but received {ax.Length} axis/axes.");
            if (ord is "f" or "fro") return L2(a, ax, keepdims, stream);
            if (ord != "nuc") throw new ArgumentException($"[linalg.norm] Invalid ord value '{ord}' for matrix norm.");
            int row = ax[0] < 0 ? ax[0] + a.NDim : ax[0], col = ax[1] < 0 ? ax[1] + a.NDim : ax[1];
            var s = Sum(Svd(MatrixLast(a, row, col, stream), computeUV: false, stream)[0], new[] { -1 }, false, stream);
            return keepdims ? ExpandDims(s, new[] { Math.Min(row, col), Math.Max(row, col) }, stream) : s;
        }

        /// <summary>The inverse of each square matrix; a singular one fails the evaluation.</summary>
        public static MxArray Inv(MxArray a, StreamOrDevice? stream = null) => Factor(LinalgKind.Inverse, false, SquareMatrix(a, "inv"), stream);

        /// <summary>The inverse of each triangular matrix (its lower triangle, or upper when <paramref name="upper"/>).</summary>
        public static MxArray TriInv(MxArray a, bool upper = false, StreamOrDevice? stream = null) => Factor(LinalgKind.TriangularInverse, upper, SquareMatrix(a, "tri_inv"), stream);

        /// <summary>The Cholesky factor L (A = L L^T) of each symmetric positive definite matrix, from its lower triangle; U (A = U^T U) when <paramref name="upper"/>.</summary>
        public static MxArray Cholesky(MxArray a, bool upper = false, StreamOrDevice? stream = null) => Factor(LinalgKind.Cholesky, upper, SquareMatrix(a, "cholesky"), stream);

        /// <summary>The inverse of A given its Cholesky factor (lower, or upper when <paramref name="upper"/>).</summary>
        public static MxArray CholeskyInv(MxArray l, bool upper = false, StreamOrDevice? stream = null)
        {
            var inv = TriInv(l, upper, stream);
            return upper ? Matmul(inv, SwapAxes(inv, -1, -2, stream), stream) : Matmul(SwapAxes(inv, -1, -2, stream), inv, stream);
        }

        /// <summary>x with a x = b, for square a (..., n, n) and b (..., n) or (..., n, k), batches broadcast.</summary>
        public static MxArray Solve(MxArray a, MxArray b, StreamOrDevice? stream = null) => Matmul(Inv(CheckSolve(a, b, "solve"), stream), b, stream);

        /// <summary>x with a x = b for triangular a (its lower triangle, or upper when <paramref name="upper"/>).</summary>
        public static MxArray SolveTriangular(MxArray a, MxArray b, bool upper = false, StreamOrDevice? stream = null) =>
            Matmul(TriInv(CheckSolve(a, b, "solve_triangular"), upper, stream), b, stream);

        /// <summary>The reduced QR factorization: Q (..., m, k) with orthonormal columns and upper triangular R (..., k, n), k = min(m, n).</summary>
        public static (MxArray Q, MxArray R) Qr(MxArray a, StreamOrDevice? stream = null)
        {
            CheckFloat(a, "qr", 2);
            int m = a.ShapeRef[^2], n = a.ShapeRef[^1], k = Math.Min(m, n);
            int[] q = a.Shape, r = a.Shape;
            q[^1] = k;
            r[^2] = k;
            var outs = MxArray.Create(new[] { q, r }, new[] { a.DType, a.DType }, new LinalgPrimitive(LinalgKind.Qr), new[] { a });
            return (outs[0], outs[1]);
        }

        /// <summary>
        /// The SVD a = U diag(S) Vt: [U (..., m, m), S (..., min(m, n)) descending, Vt (..., n, n)], or [S] when not
        /// <paramref name="computeUV"/>.
        /// </summary>
        public static MxArray[] Svd(MxArray a, bool computeUV = true, StreamOrDevice? stream = null)
        {
            CheckFloat(a, "svd", 2);
            int m = a.ShapeRef[^2], n = a.ShapeRef[^1];
            var s = a.ShapeRef[..^1].ToArray();
            s[^1] = Math.Min(m, n);
            if (!computeUV) return new[] { MxArray.Create(s, a.DType, new LinalgPrimitive(LinalgKind.SingularValues), a) };
            int[] u = a.Shape, vt = a.Shape;
            (u[^2], u[^1], vt[^2], vt[^1]) = (m, m, n, n);
            return MxArray.Create(new[] { u, s, vt }, new[] { a.DType, a.DType, a.DType }, new LinalgPrimitive(LinalgKind.Svd), new[] { a });
        }

        /// <summary>The Moore-Penrose pseudo-inverse through the SVD, singular values below 10 max(m, n) eps times the largest taken as zero (as MLX).</summary>
        public static MxArray Pinv(MxArray a, StreamOrDevice? stream = null)
        {
            CheckFloat(a, "pinv", 2);
            int m = a.ShapeRef[^2], n = a.ShapeRef[^1], k = Math.Min(m, n);
            if (a.Size == 0)
            {
                var shape = a.Shape;
                (shape[^1], shape[^2]) = (shape[^2], shape[^1]);
                return Zeros(shape, a.DType);
            }
            var usv = Svd(a, true, stream);
            int[] Starts() => new int[a.NDim];
            int[] Stops(int rows, int cols)
            {
                var stop = a.Shape;
                (stop[^2], stop[^1]) = (rows, cols);
                return stop;
            }
            var u = SwapAxes(Slice(usv[0], Starts(), Stops(m, k), stream: stream), -1, -2, stream); // (..., k, m)
            var v = SwapAxes(Slice(usv[2], Starts(), Stops(k, n), stream: stream), -1, -2, stream); // (..., n, k)
            var s = ExpandDims(usv[1], new[] { -2 }, stream);
            double eps = a.DType == DType.Float64 ? 2.220446049250313e-16 : 1.1920929e-7;
            var cutoff = Multiply(Array(10.0 * Math.Max(m, n) * eps, a.DType), Max(s, new[] { -1 }, true, stream), stream);
            var rs = Where(Greater(s, cutoff, stream), Reciprocal(s, stream), Array(0.0, a.DType), stream);
            return Matmul(Multiply(v, rs, stream), u, stream);
        }

        /// <summary>The eigenvalues (ascending) and eigenvectors (columns) of each symmetric matrix, from its lower triangle ("L") or upper ("U").</summary>
        public static (MxArray Eigenvalues, MxArray Eigenvectors) Eigh(MxArray a, string uplo = "L", StreamOrDevice? stream = null)
        {
            var sym = Triangle(SquareMatrix(a, "eigh"), uplo, stream);
            var outs = MxArray.Create(new[] { a.ShapeRef[..^1].ToArray(), a.Shape }, new[] { a.DType, a.DType }, new LinalgPrimitive(LinalgKind.Eigh), new[] { sym });
            return (outs[0], outs[1]);
        }

        /// <summary>The eigenvalues (ascending) of each symmetric matrix, from its lower ("L") or upper ("U") triangle.</summary>
        public static MxArray Eigvalsh(MxArray a, string uplo = "L", StreamOrDevice? stream = null) =>
            MxArray.Create(a.ShapeRef[..^1].ToArray(), a.DType, new LinalgPrimitive(LinalgKind.Eigvalsh), Triangle(SquareMatrix(a, "eigvalsh"), uplo, stream));

        /// <summary>
        /// The LU factorization as MLX returns it: (P, L, U) with A = L[P, :] @ U, P the row indices (uint32, (..., m)),
        /// L (..., m, k) unit lower triangular, U (..., k, n) upper triangular, k = min(m, n); partial pivoting.
        /// </summary>
        public static (MxArray P, MxArray L, MxArray U) Lu(MxArray a, StreamOrDevice? stream = null)
        {
            var outs = LuOutputs(a, "lu");
            int m = a.ShapeRef[^2], n = a.ShapeRef[^1], k = Math.Min(m, n);
            var l = Tril(outs[0], -1, stream);
            var u = Triu(outs[0], 0, stream);
            int[] Stops(MxArray x, int rows, int cols)
            {
                var stop = x.Shape;
                (stop[^2], stop[^1]) = (rows, cols);
                return stop;
            }
            if (n != k) l = Slice(l, new int[l.NDim], Stops(l, m, k), stream: stream);
            else if (m != k) u = Slice(u, new int[u.NDim], Stops(u, k, n), stream: stream);
            l = Add(l, Eye(m, k, 0, a.DType, stream), stream);
            return (outs[2], l, u);
        }

        /// <summary>The compact LU factorization: (LU, pivots), both factors in one matrix and LAPACK's 0-based row swaps (uint32, (..., min(m, n))).</summary>
        public static (MxArray LU, MxArray Pivots) LuFactor(MxArray a, StreamOrDevice? stream = null)
        {
            var outs = LuOutputs(a, "lu_factor");
            return (outs[0], outs[1]);
        }

        private static MxArray[] LuOutputs(MxArray a, string name)
        {
            CheckFloat(a, name, 2);
            int m = a.ShapeRef[^2], n = a.ShapeRef[^1];
            var pivots = a.ShapeRef[..^1].ToArray();
            pivots[^1] = Math.Min(m, n);
            return MxArray.Create(new[] { a.Shape, pivots, a.ShapeRef[..^1].ToArray() }, new[] { a.DType, DType.UInt32, DType.UInt32 }, new LinalgPrimitive(LinalgKind.Lu), new[] { a });
        }

        /// <summary>
        /// The eigenvalues and right eigenvectors (columns, unit norm) of each general square matrix, complex64 always
        /// (as MLX). The order of the eigenvalues is not LAPACK's: compare them as a set.
        /// </summary>
        public static (MxArray Eigenvalues, MxArray Eigenvectors) Eig(MxArray a, StreamOrDevice? stream = null)
        {
            SquareMatrix(a, "eig");
            var outs = MxArray.Create(new[] { a.ShapeRef[..^1].ToArray(), a.Shape }, new[] { DType.Complex64, DType.Complex64 }, new LinalgPrimitive(LinalgKind.Eig), new[] { a });
            return (outs[0], outs[1]);
        }

        /// <summary>The eigenvalues (complex64) of each general square matrix.</summary>
        public static MxArray Eigvals(MxArray a, StreamOrDevice? stream = null) =>
            MxArray.Create(SquareMatrix(a, "eigvals").ShapeRef[..^1].ToArray(), DType.Complex64, new LinalgPrimitive(LinalgKind.Eigvals), a);

        /// <summary>sign(det) and log|det| of each square matrix (a singular one: 0 and -inf).</summary>
        public static (MxArray Sign, MxArray LogAbsDet) Slogdet(MxArray a, StreamOrDevice? stream = null)
        {
            var batch = SquareMatrix(a, "slogdet").ShapeRef[..^2].ToArray();
            var outs = MxArray.Create(new[] { batch, batch }, new[] { a.DType, a.DType }, new LinalgPrimitive(LinalgKind.Slogdet), new[] { a });
            return (outs[0], outs[1]);
        }

        /// <summary>The determinant of each square matrix, sign * exp(log|det|).</summary>
        public static MxArray Det(MxArray a, StreamOrDevice? stream = null)
        {
            var (sign, log) = Slogdet(a, stream);
            return Multiply(sign, Exp(log, stream), stream);
        }

        /// <summary>The cross product of 3- (or 2-, the third component zero) vectors along <paramref name="axis"/>, batches broadcast.</summary>
        public static MxArray Cross(MxArray a, MxArray b, int axis = -1, StreamOrDevice? stream = null)
        {
            int Size(MxArray x)
            {
                int ax = axis < 0 ? axis + x.NDim : axis;
                if (ax < 0 || ax >= x.NDim) throw new ArgumentException($"[linalg.cross] Axis {axis} is out of bounds for an array of dimension {x.NDim}.");
                int d = x.ShapeRef[ax];
                if (d is < 2 or > 3) throw new ArgumentException("[linalg.cross] The specified axis must have size 2 or 3.");
                return d;
            }
            int da = Size(a), db = Size(b);
            MxArray Component(MxArray x, int d, int i) =>
                i < d ? Take(x, Array(i), axis < 0 ? axis + x.NDim : axis, stream) : ZerosLike(Take(x, Array(0), axis < 0 ? axis + x.NDim : axis, stream));
            var (a0, a1, a2) = (Component(a, da, 0), Component(a, da, 1), Component(a, da, 2));
            var (b0, b1, b2) = (Component(b, db, 0), Component(b, db, 1), Component(b, db, 2));
            var parts = new[]
            {
                Subtract(Multiply(a1, b2, stream), Multiply(a2, b1, stream), stream),
                Subtract(Multiply(a2, b0, stream), Multiply(a0, b2, stream), stream),
                Subtract(Multiply(a0, b1, stream), Multiply(a1, b0, stream), stream),
            };
            int outAxis = axis < 0 ? axis + Math.Max(a.NDim, b.NDim) + 1 : axis;
            return Stack(parts, axis < 0 ? axis : outAxis, stream);
        }

        private static MxArray L2(MxArray a, int[] axis, bool keepdims, StreamOrDevice? stream) =>
            Sqrt(Sum(Square(a, stream), axis, keepdims, stream), stream);

        private static DType AtLeastFloat(DType d) => DTypes.IsFloating(d) ? d : DTypes.Promote(d, DType.Float32);

        // The matrix axes (row, col) moved last, in that order.
        private static MxArray MatrixLast(MxArray a, int row, int col, StreamOrDevice? stream) =>
            row > col ? MoveAxis(MoveAxis(a, row, -1, stream), col, -1, stream) : MoveAxis(MoveAxis(a, col, -1, stream), row, -2, stream);

        private static MxArray Factor(LinalgKind kind, bool upper, MxArray a, StreamOrDevice? stream) =>
            MxArray.Create(a.ShapeRef, a.DType, new LinalgPrimitive(kind, upper), a);

        private static void CheckFloat(MxArray a, string name, int minDims)
        {
            if (a.DType is not (DType.Float32 or DType.Float64))
                throw new ArgumentException($"[linalg.{name}] Arrays must have type float32 or float64. Received array with type {a.DType.Name()}.");
            if (a.NDim < minDims)
                throw new ArgumentException($"[linalg.{name}] Arrays must have >= {minDims} dimensions. Received array with {a.NDim} dimensions.");
        }

        private static MxArray SquareMatrix(MxArray a, string name)
        {
            CheckFloat(a, name, 2);
            if (a.ShapeRef[^1] != a.ShapeRef[^2]) throw new ArgumentException($"[linalg.{name}] Only defined for square matrices, not shape ({string.Join(", ", a.ShapeRef)}).");
            return a;
        }

        private static MxArray CheckSolve(MxArray a, MxArray b, string name)
        {
            SquareMatrix(a, name);
            if (b.NDim < 1) throw new ArgumentException($"[linalg.{name}] Second input must have >= 1 dimensions.");
            int n = b.NDim > 1 ? b.ShapeRef[^2] : b.ShapeRef[^1];
            if (a.ShapeRef[^1] != n)
                throw new ArgumentException($"[linalg.{name}] Last dimension of first input with shape ({string.Join(", ", a.ShapeRef)}) must match second to last dimension of second input with shape ({string.Join(", ", b.ShapeRef)}).");
            if (DTypes.Promote(a.DType, b.DType) is not (DType.Float32 or DType.Float64))
                throw new ArgumentException($"[linalg.{name}] Input arrays must promote to float32 or float64, not {a.DType.Name()} and {b.DType.Name()}.");
            return a;
        }

        // The symmetric matrix from a's lower ("L") or upper ("U") triangle, as the kernel reads the lower one.
        private static MxArray Triangle(MxArray a, string uplo, StreamOrDevice? stream) => uplo switch
        {
            "L" => a,
            "U" => SwapAxes(a, -1, -2, stream),
            _ => throw new ArgumentException($"[linalg.eigh] UPLO must be 'L' or 'U', not '{uplo}'."),
        };
    }
}
