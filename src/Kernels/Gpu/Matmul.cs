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

    internal static void Put<TOps>(ArrayView<T> o, long rowStart, int col, int n, T v, bool accumulate, TOps ops) where TOps : struct, IGemmOps<T>
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
    /// o[oStart + b * mn + i] (+)= the sum over slices j, in order, of parts[(b * slices + j) * mn + i], for the total
    /// = batches * mn outputs of a split-K product.
    /// </summary>
    public static void SumSlices<T, TOps>(ArrayView<T> parts, ArrayView<T> o, long oStart, long mn, long total, int slices, int accumulate, TOps ops)
        where T : unmanaged where TOps : struct, IGemmOps<T>
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long v = Grid.GlobalIndex.X; v < total; v += stride)
        {
            long b = v / mn;
            long first = (b * slices) * mn + (v - b * mn);
            T acc = parts[first];
            for (int j = 1; j < slices; j++)
            {
                acc = ops.Add(acc, parts[first + j * mn]);
            }
            o[oStart + v] = accumulate != 0 ? ops.Add(o[oStart + v], acc) : acc;
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

/// <summary>Four floats read from or written to shared memory as one 128-bit access.</summary>
public struct Float4
{
    public float X, Y, Z, W;
}

/// <summary>
/// The float32 product for 256-thread groups (a GPU): 128 x 128 output blocks, each thread a 2 x 2 grid of 4 x 4
/// register tiles at rows 4ty + {0..3} and 64 + 4ty + {0..3} (columns alike), so that every k step reads its a and b
/// fragments as four 128-bit shared loads for 64 multiply-adds. The next k slice is fetched from global memory into
/// registers while the current one is multiplied, into the other half of a double-buffered shared tile: one barrier
/// per step. Each thread's four global loads per operand per step run along that operand's contiguous axis, their
/// addresses computed once before the loop.
/// </summary>
internal static class Gemm128
{
    public const int Threads = 256, Tile = 128, Depth = 8, Ld = Tile + 4;

    public static void Kernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> o, GemmShape s, int tilesM, int tilesN)
    {
        // Two stages of a (k-major, Depth x Ld) and b (Depth x Ld), as 128-bit units.
        var shared = SharedMemory.Allocate<Float4>(2 * 2 * Depth * Ld / 4).AsAligned(16);
        var flat = shared.Cast<float>();
        int tid = Group.IdxX;
        int g = Grid.IdxX;
        int perBatch = tilesM * tilesN;
        int bi = g / perBatch;
        int rem = g - bi * perBatch;
        int tm = rem / tilesN;
        int row0 = tm * Tile, col0 = (rem - tm * tilesN) * Tile;
        long aBase = s.ABatch.Offset(bi), bBase = s.BBatch.Offset(bi);

        // Which (row-or-column, k) each of the thread's four loads covers: along k when k is the contiguous axis,
        // else along rows (columns). The same mapping serves as the shared-memory store position.
        bool aAlongK = s.ACol == 1 && s.ARow != 1, bAlongK = s.BRow == 1 && s.BCol != 1;
        int aR = aAlongK ? tid >> 3 : tid & 127, aK = aAlongK ? tid & 7 : tid >> 7;
        int aRStep = aAlongK ? 32 : 0, aKStep = aAlongK ? 0 : 2;
        int bC = bAlongK ? tid >> 3 : tid & 127, bK = bAlongK ? tid & 7 : tid >> 7;
        int bCStep = bAlongK ? 32 : 0, bKStep = bAlongK ? 0 : 2;

        long pa0 = aBase + (long)(row0 + aR) * s.ARow + (long)aK * s.ACol;
        long pa1 = pa0 + aRStep * s.ARow + aKStep * s.ACol, pa2 = pa1 + aRStep * s.ARow + aKStep * s.ACol, pa3 = pa2 + aRStep * s.ARow + aKStep * s.ACol;
        long pb0 = bBase + (long)(col0 + bC) * s.BCol + (long)bK * s.BRow;
        long pb1 = pb0 + bCStep * s.BCol + bKStep * s.BRow, pb2 = pb1 + bCStep * s.BCol + bKStep * s.BRow, pb3 = pb2 + bCStep * s.BCol + bKStep * s.BRow;
        bool ra0 = row0 + aR < s.M, ra1 = row0 + aR + aRStep < s.M, ra2 = row0 + aR + 2 * aRStep < s.M, ra3 = row0 + aR + 3 * aRStep < s.M;
        bool rb0 = col0 + bC < s.N, rb1 = col0 + bC + bCStep < s.N, rb2 = col0 + bC + 2 * bCStep < s.N, rb3 = col0 + bC + 3 * bCStep < s.N;
        int sa0 = aK * Ld + aR, sStepA = aKStep * Ld + aRStep;
        int sb0 = Depth * Ld + bK * Ld + bC, sStepB = bKStep * Ld + bCStep;
        long aKAdvance = Depth * s.ACol, bKAdvance = Depth * s.BRow;

        int tx = tid & 15, ty = tid >> 4;
        Row8<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;

        // Stage 0 from global memory.
        int k = 0;
        float va0 = ra0 && aK < s.K ? a[pa0] : 0f, va1 = ra1 && aK + aKStep < s.K ? a[pa1] : 0f;
        float va2 = ra2 && aK + 2 * aKStep < s.K ? a[pa2] : 0f, va3 = ra3 && aK + 3 * aKStep < s.K ? a[pa3] : 0f;
        float vb0 = rb0 && bK < s.K ? b[pb0] : 0f, vb1 = rb1 && bK + bKStep < s.K ? b[pb1] : 0f;
        float vb2 = rb2 && bK + 2 * bKStep < s.K ? b[pb2] : 0f, vb3 = rb3 && bK + 3 * bKStep < s.K ? b[pb3] : 0f;
        int stage = 0;
        while (true)
        {
            int sbase = stage * 2 * Depth * Ld;
            flat[sbase + sa0] = va0;
            flat[sbase + sa0 + sStepA] = va1;
            flat[sbase + sa0 + 2 * sStepA] = va2;
            flat[sbase + sa0 + 3 * sStepA] = va3;
            flat[sbase + sb0] = vb0;
            flat[sbase + sb0 + sStepB] = vb1;
            flat[sbase + sb0 + 2 * sStepB] = vb2;
            flat[sbase + sb0 + 3 * sStepB] = vb3;
            Group.Barrier();
            int next = k + Depth;
            if (next < s.K)
            {
                // Fetch the next slice while this one is multiplied.
                pa0 += aKAdvance; pa1 += aKAdvance; pa2 += aKAdvance; pa3 += aKAdvance;
                pb0 += bKAdvance; pb1 += bKAdvance; pb2 += bKAdvance; pb3 += bKAdvance;
                va0 = ra0 && next + aK < s.K ? a[pa0] : 0f;
                va1 = ra1 && next + aK + aKStep < s.K ? a[pa1] : 0f;
                va2 = ra2 && next + aK + 2 * aKStep < s.K ? a[pa2] : 0f;
                va3 = ra3 && next + aK + 3 * aKStep < s.K ? a[pa3] : 0f;
                vb0 = rb0 && next + bK < s.K ? b[pb0] : 0f;
                vb1 = rb1 && next + bK + bKStep < s.K ? b[pb1] : 0f;
                vb2 = rb2 && next + bK + 2 * bKStep < s.K ? b[pb2] : 0f;
                vb3 = rb3 && next + bK + 3 * bKStep < s.K ? b[pb3] : 0f;
            }
            int fa = sbase / 4 + ty, fb = (sbase + Depth * Ld) / 4 + tx;
            for (int kk = 0; kk < Depth; kk++)
            {
                var a0 = shared[fa + kk * (Ld / 4)];
                var a1 = shared[fa + kk * (Ld / 4) + 16];
                var b0 = shared[fb + kk * (Ld / 4)];
                var b1 = shared[fb + kk * (Ld / 4) + 16];
                Row8<float> bv;
                bv.C0 = b0.X; bv.C1 = b0.Y; bv.C2 = b0.Z; bv.C3 = b0.W;
                bv.C4 = b1.X; bv.C5 = b1.Y; bv.C6 = b1.Z; bv.C7 = b1.W;
                c0.MulAdd(default(F32Gemm), a0.X, bv);
                c1.MulAdd(default(F32Gemm), a0.Y, bv);
                c2.MulAdd(default(F32Gemm), a0.Z, bv);
                c3.MulAdd(default(F32Gemm), a0.W, bv);
                c4.MulAdd(default(F32Gemm), a1.X, bv);
                c5.MulAdd(default(F32Gemm), a1.Y, bv);
                c6.MulAdd(default(F32Gemm), a1.Z, bv);
                c7.MulAdd(default(F32Gemm), a1.W, bv);
            }
            if (next >= s.K)
            {
                break;
            }
            k = next;
            stage ^= 1;
        }

        long oBase = s.OStart + (long)bi * s.M * s.N;
        bool acc = s.Accumulate != 0;
        int r = row0 + 4 * ty, c = col0 + 4 * tx;
        StoreRow(o, c0, oBase, r, c, s, acc);
        StoreRow(o, c1, oBase, r + 1, c, s, acc);
        StoreRow(o, c2, oBase, r + 2, c, s, acc);
        StoreRow(o, c3, oBase, r + 3, c, s, acc);
        StoreRow(o, c4, oBase, r + 64, c, s, acc);
        StoreRow(o, c5, oBase, r + 65, c, s, acc);
        StoreRow(o, c6, oBase, r + 66, c, s, acc);
        StoreRow(o, c7, oBase, r + 67, c, s, acc);
    }

    /// <summary>A register row: columns c..c+3 and c+64..c+67 of output row r, those inside the output.</summary>
    private static void StoreRow(ArrayView<float> o, Row8<float> v, long oBase, int r, int c, GemmShape s, bool acc)
    {
        if (r >= s.M)
        {
            return;
        }
        long start = oBase + (long)r * s.N;
        var ops = default(F32Gemm);
        Row8<float>.Put(o, start, c, s.N, v.C0, acc, ops);
        Row8<float>.Put(o, start, c + 1, s.N, v.C1, acc, ops);
        Row8<float>.Put(o, start, c + 2, s.N, v.C2, acc, ops);
        Row8<float>.Put(o, start, c + 3, s.N, v.C3, acc, ops);
        Row8<float>.Put(o, start, c + 64, s.N, v.C4, acc, ops);
        Row8<float>.Put(o, start, c + 65, s.N, v.C5, acc, ops);
        Row8<float>.Put(o, start, c + 66, s.N, v.C6, acc, ops);
        Row8<float>.Put(o, start, c + 67, s.N, v.C7, acc, ops);
    }
}

/// <summary>A matmul operand in device memory: element offset, row and column strides, and strides over the batch dims.</summary>
public readonly record struct GemmOperand(GpuMemory Memory, long Offset, long RowStride, long ColStride, long[] BatchStrides);

public sealed partial class GpuDevice
{
    // Products below this many multiply-adds run one output per thread: tiling them costs more in barriers than it saves.
    private const long TinyGemm = 1 << 16;

    private CuBlas? _cuBlas;

    /// <summary>float32 products on 256-thread groups through <see cref="Gemm128"/> (MLX_GPU_GEMM=tiled picks the general kernel, for comparison).</summary>
    public bool UseGemm128 { get; set; } = Environment.GetEnvironmentVariable("MLX_GPU_GEMM") != "tiled";

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

    private void MatmulImpl<T, TOps>(GpuMemory a, GpuMemory b, GpuMemory o, GemmShape s, long batch, long total, bool split = true)
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
        bool gemm128 = typeof(T) == typeof(float) && GroupSize >= Gemm128.Threads && UseGemm128;
        long tiles = gemm128 ? ((s.M + Gemm128.Tile - 1) / Gemm128.Tile) * ((s.N + Gemm128.Tile - 1) / Gemm128.Tile) : tilesM * tilesN;
        int slices = split && s.ABatch.NDim < StridedLayout.MaxDims && s.BBatch.NDim < StridedLayout.MaxDims ? SplitK(tiles * batch, s.K) : 1;
        if (slices > 1)
        {
            MatmulSplitK<T, TOps>(a, b, o, s, batch, slices);
            return;
        }
        if (gemm128)
        {
            long blocks = batch * ((s.M + Gemm128.Tile - 1) / Gemm128.Tile) * ((s.N + Gemm128.Tile - 1) / Gemm128.Tile);
            if (blocks <= int.MaxValue)
            {
                var gemm = Kernel("matmul.gemm128", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape, int, int>(Gemm128.Kernel));
                gemm(new KernelConfig((int)blocks, Gemm128.Threads), a.View<float>(), b.View<float>(), o.View<float>(), s,
                    (s.M + Gemm128.Tile - 1) / Gemm128.Tile, (s.N + Gemm128.Tile - 1) / Gemm128.Tile);
                return;
            }
        }
        var tiled = Kernel("matmul.tiled", acc => acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmShape, int, int, int, TOps>(MatmulKernels.Tiled));
        tiled(new KernelConfig((int)groups, threads), a.View<T>(), b.View<T>(), o.View<T>(), s, tx, (int)tilesM, (int)tilesN, default);
    }

    /// <summary>
    /// How many slices of K a product of <paramref name="blocks"/> output blocks (all batches) runs as: a short product
    /// (a few rows times a large matrix, as a quantized layer's prompt, or attention's probabilities times v) has too
    /// few blocks to occupy the GPU's multiprocessors (32 rows of 4096 columns: 32 of 132 on an H100), so K is cut
    /// into slices run as a batch of their own, about two blocks per multiprocessor, each slice at least 64 deep; 1
    /// when there are blocks enough or K is short.
    /// </summary>
    private int SplitK(long blocks, int k)
    {
        int multiprocessors = Accelerator.NumMultiprocessors;
        if (blocks >= multiprocessors)
        {
            return 1;
        }
        long target = (2L * multiprocessors + blocks - 1) / blocks;
        int slices = 1;
        while (slices * 2 <= target && k % (slices * 2) == 0 && k / (slices * 2) >= 64)
        {
            slices *= 2;
        }
        return slices;
    }

    /// <summary>
    /// The product as <paramref name="slices"/> products over consecutive slices of K, one more (innermost) batch
    /// dimension (slice j reads a's columns and b's rows from j * K / slices on), into scratch; then each output's
    /// slices summed in order into o.
    /// </summary>
    private void MatmulSplitK<T, TOps>(GpuMemory a, GpuMemory b, GpuMemory o, GemmShape s, long batch, int slices)
        where T : unmanaged where TOps : struct, IGemmOps<T>
    {
        int depth = s.K / slices;
        long mn = (long)s.M * s.N;
        var parts = Allocate(batch * slices * mn * System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
        var sliced = s;
        sliced.K = depth;
        sliced.ABatch = s.ABatch.WithInnerDim(slices, depth * s.ACol);
        sliced.BBatch = s.BBatch.WithInnerDim(slices, depth * s.BRow);
        sliced.OStart = 0;
        sliced.Accumulate = 0;
        MatmulImpl<T, TOps>(a, b, parts, sliced, batch * slices, batch * slices * mn, split: false);
        var sum = Kernel("matmul.sumslices", acc => acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, long, long, long, int, int, TOps>(MatmulKernels.SumSlices));
        sum(GridFor(batch * mn), parts.View<T>(), o.View<T>(), s.OStart, mn, batch * mn, slices, s.Accumulate, default);
        Release(parts);
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
