using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Mlx.Kernels.Gpu;

/// <summary>Multiply-add in the type a matmul accumulates in (float32 or float64).</summary>
public interface IGemmOps<T> where T : unmanaged
{
    T MulAdd(T acc, T a, T b);

    T Add(T a, T b);
}

public struct F32Gemm : IGemmOps<float>
{
    public float MulAdd(float acc, float a, float b) => acc + a * b;
    public float Add(float a, float b) => a + b;
}

public struct F64Gemm : IGemmOps<double>
{
    public double MulAdd(double acc, double a, double b) => acc + a * b;
    public double Add(double a, double b) => a + b;
}

/// <summary>
/// A batched product o[i] (+)= a[i] @ b[i]: a is (M, K) and b is (K, N) at any row and column strides (transposes are
/// read in place), each batch's start given by a layout over the batch index; o is row-major from <see cref="OStart"/>.
/// </summary>
public struct GemmShape
{
    public int M, N, K;
    public long ARow, ACol, BRow, BCol;
    public StridedLayout ABatch, BBatch;
    public long OStart;

    /// <summary>Nonzero: add the product to o instead of overwriting it.</summary>
    public int Accumulate;
}

/// <summary>Eight values a thread keeps in registers: a row of its micro-tile, or one k-slice of its a or b values.</summary>
public struct Row8<T> where T : unmanaged
{
    public T C0, C1, C2, C3, C4, C5, C6, C7;

    public void MulAdd<TOps>(TOps ops, T a, Row8<T> b) where TOps : struct, IGemmOps<T>
    {
        C0 = ops.MulAdd(C0, a, b.C0);
        C1 = ops.MulAdd(C1, a, b.C1);
        C2 = ops.MulAdd(C2, a, b.C2);
        C3 = ops.MulAdd(C3, a, b.C3);
        C4 = ops.MulAdd(C4, a, b.C4);
        C5 = ops.MulAdd(C5, a, b.C5);
        C6 = ops.MulAdd(C6, a, b.C6);
        C7 = ops.MulAdd(C7, a, b.C7);
    }

    public static Row8<T> Load(ArrayView<T> s, int start, int step)
    {
        Row8<T> r;
        r.C0 = s[start];
        r.C1 = s[start + step];
        r.C2 = s[start + 2 * step];
        r.C3 = s[start + 3 * step];
        r.C4 = s[start + 4 * step];
        r.C5 = s[start + 5 * step];
        r.C6 = s[start + 6 * step];
        r.C7 = s[start + 7 * step];
        return r;
    }

    /// <summary>Writes the row's values to columns col, col + step, ... of row <paramref name="row"/> that lie inside the output.</summary>
    public readonly void Store<TOps>(ArrayView<T> o, long rowStart, int col, int step, int n, bool accumulate, TOps ops) where TOps : struct, IGemmOps<T>
    {
        Put(o, rowStart, col, n, C0, accumulate, ops);
        Put(o, rowStart, col + step, n, C1, accumulate, ops);
        Put(o, rowStart, col + 2 * step, n, C2, accumulate, ops);
        Put(o, rowStart, col + 3 * step, n, C3, accumulate, ops);
        Put(o, rowStart, col + 4 * step, n, C4, accumulate, ops);
        Put(o, rowStart, col + 5 * step, n, C5, accumulate, ops);
        Put(o, rowStart, col + 6 * step, n, C6, accumulate, ops);
        Put(o, rowStart, col + 7 * step, n, C7, accumulate, ops);
    }

    private static void Put<TOps>(ArrayView<T> o, long rowStart, int col, int n, T v, bool accumulate, TOps ops) where TOps : struct, IGemmOps<T>
    {
        if (col < n)
        {
            long i = rowStart + col;
            o[i] = accumulate ? ops.Add(o[i], v) : v;
        }
    }
}

internal static class MatmulKernels
{
    /// <summary>Outputs per thread along each axis of the tiled kernel.</summary>
    public const int Micro = 8;

    /// <summary>The k-depth of one shared-memory step.</summary>
    public const int Depth = 8;

    /// <summary>The largest block tile side (16 threads x 8 outputs); shared rows are padded by 4 against bank conflicts.</summary>
    public const int MaxTile = 128;
    public const int Pad = 4;

    /// <summary>One output element per thread, grid-stride: for tiny products and groups too small to tile.</summary>
    public static void Simple<T, TOps>(ArrayView<T> a, ArrayView<T> b, ArrayView<T> o, GemmShape s, long total, TOps ops)
        where T : unmanaged where TOps : struct, IGemmOps<T>
    {
        long stride = (long)Grid.DimX * Group.DimX;
        long mn = (long)s.M * s.N;
        for (long idx = Grid.GlobalIndex.X; idx < total; idx += stride)
        {
            long bi = idx / mn;
            long r = idx - bi * mn;
            long i = r / s.N;
            long j = r - i * s.N;
            long pa = s.ABatch.Offset(bi) + i * s.ARow;
            long pb = s.BBatch.Offset(bi) + j * s.BCol;
            T acc = default;
            for (int k = 0; k < s.K; k++)
            {
                acc = ops.MulAdd(acc, a[pa], b[pb]);
                pa += s.ACol;
                pb += s.BRow;
            }
            long oi = s.OStart + idx;
            o[oi] = s.Accumulate != 0 ? ops.Add(o[oi], acc) : acc;
        }
    }

    /// <summary>
    /// Shared-memory tiled product: a group of ty x tx threads computes a (ty*8) x (tx*8) block of one batch's
    /// output, each thread an 8x8 micro-tile in registers at rows ly + ty*i and columns lx + tx*j (so that a warp's
    /// shared reads and global writes are consecutive). Each step stages a Depth-deep slice of a and b in shared
    /// memory, loading along whichever axis of each operand is contiguous, zero-filled past the edges.
    /// </summary>
    public static void Tiled<T, TOps>(ArrayView<T> a, ArrayView<T> b, ArrayView<T> o, GemmShape s, int tx, int tilesM, int tilesN, TOps ops)
        where T : unmanaged where TOps : struct, IGemmOps<T>
    {
        var sa = SharedMemory.Allocate<T>(Depth * (MaxTile + Pad));
        var sb = SharedMemory.Allocate<T>(Depth * (MaxTile + Pad));
        int threads = Group.DimX;
        int tid = Group.IdxX;
        int ty = threads / tx;
        int bm = ty * Micro, bn = tx * Micro;
        int lda = bm + Pad, ldb = bn + Pad;
        int g = Grid.IdxX;
        int perBatch = tilesM * tilesN;
        int bi = g / perBatch;
        int rem = g - bi * perBatch;
        int tm = rem / tilesN;
        int row0 = tm * bm, col0 = (rem - tm * tilesN) * bn;
        long aBase = s.ABatch.Offset(bi), bBase = s.BBatch.Offset(bi);
        bool aKFast = s.ACol == 1, bNFast = s.BCol == 1 || s.BRow != 1;
        int lx = tid % tx, ly = tid / tx;
        Row8<T> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int k0 = 0; k0 < s.K; k0 += Depth)
        {
            for (int e = tid; e < bm * Depth; e += threads)
            {
                int r, kk;
                if (aKFast)
                {
                    r = e / Depth;
                    kk = e - r * Depth;
                }
                else
                {
                    kk = e / bm;
                    r = e - kk * bm;
                }
                int gi = row0 + r, gk = k0 + kk;
                sa[kk * lda + r] = gi < s.M && gk < s.K ? a[aBase + gi * s.ARow + gk * s.ACol] : default;
            }
            for (int e = tid; e < bn * Depth; e += threads)
            {
                int c, kk;
                if (bNFast)
                {
                    kk = e / bn;
                    c = e - kk * bn;
                }
                else
                {
                    c = e / Depth;
                    kk = e - c * Depth;
                }
                int gj = col0 + c, gk = k0 + kk;
                sb[kk * ldb + c] = gj < s.N && gk < s.K ? b[bBase + gk * s.BRow + gj * s.BCol] : default;
            }
            Group.Barrier();
            for (int kk = 0; kk < Depth; kk++)
            {
                var av = Row8<T>.Load(sa, kk * lda + ly, ty);
                var bv = Row8<T>.Load(sb, kk * ldb + lx, tx);
                c0.MulAdd(ops, av.C0, bv);
                c1.MulAdd(ops, av.C1, bv);
                c2.MulAdd(ops, av.C2, bv);
                c3.MulAdd(ops, av.C3, bv);
                c4.MulAdd(ops, av.C4, bv);
                c5.MulAdd(ops, av.C5, bv);
                c6.MulAdd(ops, av.C6, bv);
                c7.MulAdd(ops, av.C7, bv);
            }
            Group.Barrier();
        }
        long oBase = s.OStart + (long)bi * s.M * s.N;
        bool acc = s.Accumulate != 0;
        int col = col0 + lx, row = row0 + ly;
        if (row < s.M) c0.Store(o, oBase + (long)row * s.N, col, tx, s.N, acc, ops);
        if (row + ty < s.M) c1.Store(o, oBase + (long)(row + ty) * s.N, col, tx, s.N, acc, ops);
        if (row + 2 * ty < s.M) c2.Store(o, oBase + (long)(row + 2 * ty) * s.N, col, tx, s.N, acc, ops);
        if (row + 3 * ty < s.M) c3.Store(o, oBase + (long)(row + 3 * ty) * s.N, col, tx, s.N, acc, ops);
        if (row + 4 * ty < s.M) c4.Store(o, oBase + (long)(row + 4 * ty) * s.N, col, tx, s.N, acc, ops);
        if (row + 5 * ty < s.M) c5.Store(o, oBase + (long)(row + 5 * ty) * s.N, col, tx, s.N, acc, ops);
        if (row + 6 * ty < s.M) c6.Store(o, oBase + (long)(row + 6 * ty) * s.N, col, tx, s.N, acc, ops);
        if (row + 7 * ty < s.M) c7.Store(o, oBase + (long)(row + 7 * ty) * s.N, col, tx, s.N, acc, ops);
    }
}

/// <summary>A matmul operand in device memory: element offset, row and column strides, and strides over the batch dims.</summary>
public readonly record struct GemmOperand(GpuMemory Memory, long Offset, long RowStride, long ColStride, long[] BatchStrides);

public sealed partial class GpuDevice
{
    // Products below this many multiply-adds run one output per thread: tiling them costs more in barriers than it saves.
    private const long TinyGemm = 1 << 16;

    private CuBlas? _cuBlas;

    /// <summary>
    /// o (+)= a @ b over the batch dims <paramref name="batchShape"/> in <paramref name="t"/> (float32 or float64):
    /// (M, K) @ (K, N) per batch, o row-major and contiguous from element <paramref name="oOffset"/>. K = 0 writes zeros
    /// (or leaves o unchanged when accumulating).
    /// </summary>
    public void Matmul(GpuType t, int[] batchShape, int m, int n, int k, GemmOperand a, GemmOperand b, GpuMemory o, long oOffset = 0, bool accumulate = false)
    {
        long batch = Count(batchShape);
        long total = batch * m * n;
        if (total == 0)
        {
            return;
        }
        var (shape, strides) = Strided.Collapse(batchShape, a.BatchStrides, b.BatchStrides);
        var s = new GemmShape
        {
            M = m, N = n, K = k,
            ARow = a.RowStride, ACol = a.ColStride, BRow = b.RowStride, BCol = b.ColStride,
            ABatch = StridedLayout.From(shape, strides[0], a.Offset),
            BBatch = StridedLayout.From(shape, strides[1], b.Offset),
            OStart = oOffset,
            Accumulate = accumulate ? 1 : 0,
        };
        switch (t)
        {
            case GpuType.Float32: MatmulImpl<float, F32Gemm>(a.Memory, b.Memory, o, s, batch, total); break;
            case GpuType.Float64: MatmulImpl<double, F64Gemm>(a.Memory, b.Memory, o, s, batch, total); break;
            default: throw new ArgumentException($"Matmul kernels compute in float32 or float64, not {t}.");
        }
    }

    private void MatmulImpl<T, TOps>(GpuMemory a, GpuMemory b, GpuMemory o, GemmShape s, long batch, long total)
        where T : unmanaged where TOps : struct, IGemmOps<T>
    {
        // Threads per group: a power of two up to 256 (16 x 16 threads, 128 x 128 block tiles on a GPU).
        int threads = 1 << (31 - System.Numerics.BitOperations.LeadingZeroCount((uint)Math.Min(GroupSize, 256)));
        int ty = 1 << (System.Numerics.BitOperations.Log2((uint)threads) / 2);
        int tx = threads / ty;
        long tilesM = (s.M + ty * MatmulKernels.Micro - 1) / (ty * MatmulKernels.Micro);
        long tilesN = (s.N + tx * MatmulKernels.Micro - 1) / (tx * MatmulKernels.Micro);
        long groups = batch * tilesM * tilesN;
        if (threads < 2 || total * s.K < TinyGemm || groups > int.MaxValue)
        {
            var simple = Kernel("matmul.simple", acc => acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmShape, long, TOps>(MatmulKernels.Simple));
            simple(GridFor(total), a.View<T>(), b.View<T>(), o.View<T>(), s, total, default);
            return;
        }
        var tiled = Kernel("matmul.tiled", acc => acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmShape, int, int, int, TOps>(MatmulKernels.Tiled));
        tiled(new KernelConfig((int)groups, threads), a.View<T>(), b.View<T>(), o.View<T>(), s, tx, (int)tilesM, (int)tilesN, default);
    }

    /// <summary>
    /// cuBLAS SGEMM of row-major float32 matrices, c = a (m x k) @ b (k x n), on the default stream: a reference
    /// for benchmarking the matmul kernels. CUDA only.
    /// </summary>
    public void CuBlasSgemm(GpuMemory a, GpuMemory b, GpuMemory c, int m, int n, int k)
    {
        if (Accelerator is not CudaAccelerator cuda)
        {
            throw new NotSupportedException("cuBLAS needs a CUDA device.");
        }
        _cuBlas ??= new CuBlas(cuda) { PointerMode = CuBlasPointerMode.Host };
        _cuBlas.Stream = (CudaStream)cuda.DefaultStream;
        // cuBLAS is column-major: row-major c is column-major c^T = b^T @ a^T, and row-major a, b read as a^T, b^T.
        _cuBlas.Gemm(CuBlasOperation.NonTranspose, CuBlasOperation.NonTranspose, n, m, k, 1f, b.View<float>(), n, a.View<float>(), k, 0f, c.View<float>(), n);
    }
}
