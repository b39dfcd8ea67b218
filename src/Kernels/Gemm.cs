using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mlx.Kernels;

/// <summary>
/// Blocked matrix multiply C = alpha * A B + beta * C for float and double. Operands are packed into panels
/// (so transposed or strided views cost nothing extra), then a register-blocked FMA micro-kernel of MR rows by
/// two SIMD vectors of columns runs over each panel pair. Blocks of rows are split across cores.
/// </summary>
public static unsafe class Gemm
{
    internal const int MR = 6;

    private const int MC = MR * 8;

    /// <summary>
    /// Largest k block for T: a B micro-panel (kc x PanelWidth) plus an A block (MC x kc) take up to half of the L2,
    /// in multiples of 256, from 256 to 2048. Long k blocks load and store C once per block; with a 1 MB L2 this is
    /// 1024 for float (256 KB + 192 KB), which same-process runs measured 3-6% faster than 384 at N = 1024 and 2048.
    /// </summary>
    internal static int KcFor<T>() where T : unmanaged => KcFor(CacheInfo.L2, PanelWidth<T>(), Unsafe.SizeOf<T>());

    internal static int KcFor(long l2Bytes, int panelWidth, int elementBytes) =>
        (int)Math.Clamp(l2Bytes / 2 / ((long)(panelWidth + MC) * elementBytes) / 256 * 256, 256, 2048);

    private const int NC = 1024;

    /// <summary>Below this many multiply-adds a product stays on one thread (a fork costs more than it saves).</summary>
    private const long ParallelFlops = 1L << 19;

    /// <summary>From this many multiply-adds (about 1 ms on two cores) row slices share one packed B.</summary>
    private const long SharedBFlops = 1L << 27;

    // Columns per micro-tile: 4 vectors with AVX-512 (24 accumulators of 32 registers), 2 with AVX2 (12 of 16).
    internal static int PanelWidth<T>() where T : unmanaged =>
        Vector512.IsHardwareAccelerated ? 4 * Vector512<T>.Count : Vector256.IsHardwareAccelerated ? 2 * Vector256<T>.Count : 8;

    // A panel of at most one vector of columns (the last panel of most products, all of a product with few columns)
    // is packed and multiplied one vector wide: the four-vector tile would spend 3/4 of its multiply-adds on padding.
    internal static int NarrowWidth<T>() where T : unmanaged =>
        Vector512.IsHardwareAccelerated ? Vector512<T>.Count : Vector256.IsHardwareAccelerated ? Vector256<T>.Count : 0;

    /// <summary>
    /// C[M,N] = alpha * A[M,K] B[K,N] + beta * C. A's element (i,k) is at A[i*rsA + k*csA]; likewise B; C is
    /// row-major with row stride ldc. beta = 0 ignores C's old contents (NaN included).
    /// </summary>
    public static void Run<T>(int M, int N, int K, T* A, long rsA, long csA, T* B, long rsB, long csB, T* C, long ldc, T alpha, T beta)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Run(M, N, K, A, rsA, csA, B, rsB, csB, C, ldc, alpha, beta, Parallelism.MaxThreads);

    /// <summary>As above on at most <paramref name="threads"/> threads (1: the caller's thread only, for callers that parallelize across matrices).</summary>
    public static void Run<T>(int M, int N, int K, T* A, long rsA, long csA, T* B, long rsB, long csB, T* C, long ldc, T alpha, T beta, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (M == 0 || N == 0)
        {
            return;
        }
        if (K == 0 || alpha == T.Zero)
        {
            for (int i = 0; i < M; i++)
            {
                var row = new Span<T>(C + i * ldc, N);
                if (beta == T.Zero) row.Clear(); else System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
            }
            return;
        }
        if (M <= GemvRows && (rsB == 1 || csB == 1))
        {
            Gemv(M, N, K, A, rsA, csA, B, rsB, csB, C, ldc, alpha, beta, threads);
            return;
        }
        int nr = PanelWidth<T>();
        int mPanels = (M + MR - 1) / MR, nPanels = (N + nr - 1) / nr;
        if ((long)M * N * K < ParallelFlops)
        {
            threads = 1;
        }
        // Each thread owns a slice of C, so there is one fork per product and no barrier. Slicing rows makes every
        // thread pack all of B (K x N), slicing columns all of A (M x K), or none of it when A is read in place
        // (row-major): split the dimension whose duplicate packing costs less. Large products slice rows and share
        // one packed B among the threads instead.
        bool aInPlace = csA == 1 && (rsA * sizeof(T)) % 4096 != 0;
        bool rowsCheaper = (long)M * N * K >= SharedBFlops || (!aInPlace && M >= N);
        bool splitRows = rowsCheaper ? mPanels >= threads : nPanels < threads;
        threads = Math.Max(1, Math.Min(threads, splitRows ? mPanels : nPanels));
        var job = new Job<T>
        {
            M = M, N = N, K = K, A = A, RsA = rsA, CsA = csA, B = B, RsB = rsB, CsB = csB, C = C, Ldc = ldc,
            Alpha = alpha, Beta = beta, Nr = nr,
        };
        if (threads == 1)
        {
            job.Slice(0, M, 0, N);
            return;
        }
        // Row slices share one packed copy of each B block: the threads pack a part of it each, meet at a barrier, then
        // multiply their rows against all of it. Two buffers alternate, so one barrier per block suffices (a buffer is
        // repacked only after every thread has arrived at the next block, i.e. finished using it). Small products
        // skip it: the barrier would make the caller wait out a pool thread's wake-up, tens of microseconds.
        T* shared = null;
        Gate? gate = null;
        if (splitRows && (long)M * N * K >= SharedBFlops)
        {
            shared = (T*)s_sharedB.Take(2 * job.BlockBytes(0, N));
            gate = new Gate();
        }
        try
        {
            // Threads sharing the packed B meet at a gate per block, so they must all run at once.
            Action<int, Action<int>> run = gate != null ? Parallelism.RunGang : Parallelism.Run;
            run(threads, t =>
            {
                // Whole panels per thread, as even as they can be (a partial panel only at the very end).
                if (splitRows)
                {
                    int i0 = (int)((long)mPanels * t / threads) * MR, i1 = Math.Min(M, (int)((long)mPanels * (t + 1) / threads) * MR);
                    job.Slice(i0, i1, 0, N, shared, gate, t, threads);
                }
                else
                {
                    int j0 = (int)((long)nPanels * t / threads) * nr, j1 = Math.Min(N, (int)((long)nPanels * (t + 1) / threads) * nr);
                    job.Slice(0, M, j0, j1);
                }
            });
        }
        finally
        {
            if (shared != null)
            {
                s_sharedB.Give(shared);
            }
        }
    }

    /// <summary>
    /// Products with at most this many rows of A (a vector times a matrix: inference one token or a few at a time)
    /// skip packing: B is read once, from memory, straight into dot products or row updates. Packing would copy all
    /// of B to multiply it by a single row.
    /// </summary>
    public const int GemvRows = 4;

    private static void Gemv<T>(int M, int N, int K, T* A, long rsA, long csA, T* B, long rsB, long csB, T* C, long ldc, T alpha, T beta, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // A's few rows contiguous: in place, or copied (M x K elements, small).
        T* a = A;
        long lda = rsA;
        if (csA != 1)
        {
            a = (T*)NativeMemory.Alloc((nuint)((long)M * K * sizeof(T)));
            lda = K;
            for (int i = 0; i < M; i++)
            {
                for (int k = 0; k < K; k++)
                {
                    a[(long)i * K + k] = A[i * rsA + k * csA];
                }
            }
        }
        try
        {
            nint pa = (nint)a, pb = (nint)B, pc = (nint)C;
            bool parallel = threads > 1 && (long)M * N * K >= ParallelFlops;
            if (rsB == 1)
            {
                // Column j of B is contiguous (B is a transposed row-major matrix, as in x W^T): C[i, j] is a dot
                // product of two contiguous vectors. Blocks of columns of about 64 KB of B, each thread walking its
                // own share of them in order.
                long cols = Math.Max(1, (64L << 10) / Math.Max(1, (long)K * sizeof(T)));
                long blocks = (N + cols - 1) / cols;
                void Columns(long blk)
                {
                    T* ap = (T*)pa;
                    for (long j = blk * cols, end = Math.Min(N, j + cols); j < end; j++)
                    {
                        var bj = new ReadOnlySpan<T>((T*)pb + j * csB, K);
                        for (int i = 0; i < M; i++)
                        {
                            T dot = System.Numerics.Tensors.TensorPrimitives.Dot(new ReadOnlySpan<T>(ap + i * lda, K), bj);
                            T* c = (T*)pc + i * ldc + j;
                            *c = beta == T.Zero ? alpha * dot : alpha * dot + beta * *c;
                        }
                    }
                }
                if (parallel) Parallelism.ForBlocks(blocks, cols * K * M, Columns);
                else for (long blk = 0; blk < blocks; blk++) Columns(blk);
                return;
            }
            // Row k of B is contiguous: C[i, j0:j1] accumulates a[i, k] * B[k, j0:j1] over k, in blocks of columns
            // small enough that the M accumulator rows stay in L1 (at most 1024), two blocks per thread where N allows.
            int threadsUsed = Math.Max(1, threads);
            long perThread = ((long)N + 2 * threadsUsed - 1) / (2 * threadsUsed);
            int width = (int)Math.Clamp((perThread + 15) & ~15L, 64, 1024);
            long widthBlocks = (N + width - 1) / width;
            void Rows(long blk)
            {
                int j0 = (int)(blk * width), w = Math.Min(width, N - j0);
                T* acc = stackalloc T[GemvRows * 1024];
                new Span<T>(acc, M * w).Clear();
                T* ap = (T*)pa;
                for (int k = 0; k < K; k++)
                {
                    var bk = new ReadOnlySpan<T>((T*)pb + k * rsB + j0, w);
                    for (int i = 0; i < M; i++)
                    {
                        var row = new Span<T>(acc + i * w, w);
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(bk, ap[i * lda + k], row, row);
                    }
                }
                for (int i = 0; i < M; i++)
                {
                    var crow = new Span<T>((T*)pc + i * ldc + j0, w);
                    var arow = new ReadOnlySpan<T>(acc + i * w, w);
                    if (beta == T.Zero) System.Numerics.Tensors.TensorPrimitives.Multiply(arow, alpha, crow);
                    else
                    {
                        System.Numerics.Tensors.TensorPrimitives.Multiply(crow, beta, crow);
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(arow, alpha, crow, crow);
                    }
                }
            }
            if (parallel) Parallelism.ForBlocks(widthBlocks, (long)width * K * M, Rows);
            else for (long blk = 0; blk < widthBlocks; blk++) Rows(blk);
        }
        finally
        {
            if (a != A)
            {
                NativeMemory.Free(a);
            }
        }
    }

    /// <summary>
    /// C[M, N] (float32, rows ldc apart) = A[M, K] (float32, rows lda apart, contiguous) times B, where column j of
    /// B is K contiguous float16 or bfloat16 values at b + j * csB: a 16-bit weight stored (N, K) and read as its
    /// transpose, at most <see cref="GemvRows"/> rows. Each column is widened in registers as it is dotted, so the
    /// weight is read once, at 2 bytes an element, instead of converted whole to float32 first.
    /// </summary>
    public static void Gemv16(int M, int N, int K, float* a, long lda, ushort* b, long csB, bool bfloat16, float* c, long ldc)
    {
        if (M > GemvRows) throw new ArgumentOutOfRangeException(nameof(M), $"At most {GemvRows} rows.");
        long cols = Math.Max(1, (32L << 10) / Math.Max(1, 2L * K));
        long blocks = (N + cols - 1) / cols;
        nint pa = (nint)a, pb = (nint)b, pc = (nint)c;
        void Columns(long blk)
        {
            float* dots = stackalloc float[GemvRows];
            for (long j = blk * cols, end = Math.Min(N, j + cols); j < end; j++)
            {
                Dot16((float*)pa, lda, M, (ushort*)pb + j * csB, K, bfloat16, dots);
                for (int i = 0; i < M; i++)
                {
                    ((float*)pc)[i * ldc + j] = dots[i];
                }
            }
        }
        if ((long)M * N * K >= ParallelFlops) Parallelism.ForBlocks(blocks, cols * K * M, Columns);
        else for (long blk = 0; blk < blocks; blk++) Columns(blk);
    }

    // dots[i] = a[i, 0:K] . w[0:K] for m <= GemvRows rows, w 16-bit floats widened 32 (or 16) at a time in registers.
    private static void Dot16(float* a, long lda, int m, ushort* w, int K, bool bfloat16, float* dots)
    {
        for (int i = 0; i < m; i++) dots[i] = 0;
        int k = Vector512.IsHardwareAccelerated ? Dot16Wide(a, lda, m, w, K, bfloat16, dots) : 0;
        if (Vector256.IsHardwareAccelerated && k + 16 <= K)
        {
            float* a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
            Vector256<float> s00 = default, s01 = default, s10 = default, s11 = default, s20 = default, s21 = default, s30 = default, s31 = default;
            for (; k + 16 <= K; k += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(w + k));
                Vector256<float> w0, w1;
                if (bfloat16)
                {
                    w0 = Vector256.ShiftLeft(lo, 16).AsSingle();
                    w1 = Vector256.ShiftLeft(hi, 16).AsSingle();
                }
                else
                {
                    w0 = Conversions.WidenHalf(lo);
                    w1 = Conversions.WidenHalf(hi);
                }
                s00 = Vector256.FusedMultiplyAdd(Vector256.Load(a + k), w0, s00); s01 = Vector256.FusedMultiplyAdd(Vector256.Load(a + k + 8), w1, s01);
                if (m > 1)
                {
                    s10 = Vector256.FusedMultiplyAdd(Vector256.Load(a1 + k), w0, s10); s11 = Vector256.FusedMultiplyAdd(Vector256.Load(a1 + k + 8), w1, s11);
                    if (m > 2)
                    {
                        s20 = Vector256.FusedMultiplyAdd(Vector256.Load(a2 + k), w0, s20); s21 = Vector256.FusedMultiplyAdd(Vector256.Load(a2 + k + 8), w1, s21);
                        if (m > 3)
                        {
                            s30 = Vector256.FusedMultiplyAdd(Vector256.Load(a3 + k), w0, s30); s31 = Vector256.FusedMultiplyAdd(Vector256.Load(a3 + k + 8), w1, s31);
                        }
                    }
                }
            }
            dots[0] += Vector256.Sum(s00 + s01);
            if (m > 1) dots[1] += Vector256.Sum(s10 + s11);
            if (m > 2) dots[2] += Vector256.Sum(s20 + s21);
            if (m > 3) dots[3] += Vector256.Sum(s30 + s31);
        }
        for (; k < K; k++)
        {
            float wk = bfloat16 ? BitConverter.UInt32BitsToSingle((uint)w[k] << 16) : (float)BitConverter.UInt16BitsToHalf(w[k]);
            for (int i = 0; i < m; i++)
            {
                dots[i] += a[i * lda + k] * wk;
            }
        }
    }

    // The first K - K % 32 terms of Dot16 in 512-bit registers, returning where it stopped; the weights widen through
    // Conversions.Widen32 (a finite float16 block in four operations per 16 lanes instead of the full conversion's
    // dozen): a 4096 x 4096 float16 weight times one token 2.0 -> 1.05 ms (bfloat16 0.79 -> 0.65).
    private static int Dot16Wide(float* a, long lda, int m, ushort* w, int K, bool bfloat16, float* dots)
    {
        float* a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
        Vector512<float> s00 = default, s01 = default, s10 = default, s11 = default, s20 = default, s21 = default, s30 = default, s31 = default;
        int k = 0;
        for (; k + 32 <= K; k += 32)
        {
            var (w0, w1) = Conversions.Widen32(Vector512.Load(w + k), bfloat16);
            s00 = Vector512.FusedMultiplyAdd(Vector512.Load(a + k), w0, s00); s01 = Vector512.FusedMultiplyAdd(Vector512.Load(a + k + 16), w1, s01);
            if (m > 1)
            {
                s10 = Vector512.FusedMultiplyAdd(Vector512.Load(a1 + k), w0, s10); s11 = Vector512.FusedMultiplyAdd(Vector512.Load(a1 + k + 16), w1, s11);
                if (m > 2)
                {
                    s20 = Vector512.FusedMultiplyAdd(Vector512.Load(a2 + k), w0, s20); s21 = Vector512.FusedMultiplyAdd(Vector512.Load(a2 + k + 16), w1, s21);
                    if (m > 3)
                    {
                        s30 = Vector512.FusedMultiplyAdd(Vector512.Load(a3 + k), w0, s30); s31 = Vector512.FusedMultiplyAdd(Vector512.Load(a3 + k + 16), w1, s31);
                    }
                }
            }
        }
        dots[0] += Vector512.Sum(s00 + s01);
        if (m > 1) dots[1] += Vector512.Sum(s10 + s11);
        if (m > 2) dots[2] += Vector512.Sum(s20 + s21);
        if (m > 3) dots[3] += Vector512.Sum(s30 + s31);
        return k;
    }

    /// <summary>Arrivals at the per-block barrier of a shared-B product (monotone: block b waits for threads * (b + 1)).</summary>
    private sealed class Gate
    {
        public int Arrived;

        public void Wait(int block, int threads)
        {
            Interlocked.Increment(ref Arrived);
            var spin = new SpinWait();
            while (Volatile.Read(ref Arrived) < threads * (block + 1))
            {
                spin.SpinOnce(-1);
            }
        }
    }

    /// <summary>The shared-B buffer of row-split products, reused across products.</summary>
    private static readonly CachedBuffer s_sharedB = new();

    private readonly struct Job<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public int M { get; init; }
        public int N { get; init; }
        public int K { get; init; }
        public T* A { get; init; }
        public long RsA { get; init; }
        public long CsA { get; init; }
        public T* B { get; init; }
        public long RsB { get; init; }
        public long CsB { get; init; }
        public T* C { get; init; }
        public long Ldc { get; init; }
        public T Alpha { get; init; }
        public T Beta { get; init; }
        public int Nr { get; init; }

        // The last panel's packed width: one vector, two (AVX-512, where the full panel is four), or the full panel, so
        // a product with 17-32 columns left (a 32-channel convolution, 32 rows of x against a weight) does not spend
        // half its multiply-adds on padding.
        private int PackedWidth(int columns) =>
            columns <= NarrowWidth<T>() ? NarrowWidth<T>() : Vector512.IsHardwareAccelerated && columns <= 2 * NarrowWidth<T>() && 2 * NarrowWidth<T>() < Nr ? 2 * NarrowWidth<T>() : Nr;

        /// <summary>C[i0:i1, j0:j1] on the calling thread: k blocks of even size, B block packed, then A blocks of MC rows.</summary>
        public void Slice(int i0, int i1, int j0, int j1) => Slice(i0, i1, j0, j1, null, null, 0, 1);

        /// <summary>Bytes of one packed B block for columns j0..j1, rounded to whole cache lines.</summary>
        public long BlockBytes(int j0, int j1)
        {
            return ((long)(Math.Min(NC, j1 - j0) + Nr) * KBlock() * sizeof(T) + 63) & ~63L;
        }

        /// <summary>The k block: K split into blocks of equal size, none over <see cref="KcFor{T}()"/>.</summary>
        private int KBlock()
        {
            int kc = KcFor<T>(), kBlocks = (K + kc - 1) / kc;
            return (K + kBlocks - 1) / kBlocks;
        }

        /// <summary>With <paramref name="shared"/>, thread <paramref name="t"/> of <paramref name="threads"/> packs its share of each B block there.</summary>
        public void Slice(int i0, int i1, int j0, int j1, T* shared, Gate? gate, int t, int threads)
        {
            if (i0 >= i1 || j0 >= j1)
            {
                return;
            }
            int nr = Nr;
            int kcMax = KBlock();
            long blockBytes = BlockBytes(j0, j1);
            T* bPack = shared != null ? shared : (T*)Scratch.Get(0, blockBytes);
            int block = 0;
            T* aPack = (T*)Scratch.Get(1, (long)(MC + MR) * kcMax * sizeof(T));
            // A row-major A needs no packing: the micro-kernel reads its MR rows in place (only a partial panel,
            // whose missing rows must read as zeros, is packed). Packing would cost about one cycle per element,
            // a quarter of the multiply time when N is one 64-column panel (convolutions, attention).
            // Rows a multiple of 4 KB apart would share L1 sets, so those are packed unless N is too small to repay it.
            bool direct = CsA == 1 && ((RsA * sizeof(T)) % 4096 != 0 || j1 - j0 <= 2 * nr);
            for (int jc = j0; jc < j1; jc += NC)
            {
                int nc = Math.Min(NC, j1 - jc);
                int nPanels = (nc + nr - 1) / nr;
                for (int pc = 0; pc < K; pc += kcMax)
                {
                    int kc = Math.Min(kcMax, K - pc);
                    T betaBlock = pc == 0 ? Beta : T.One;
                    int p0 = 0, p1 = nPanels;
                    if (gate != null)
                    {
                        bPack = (T*)((byte*)shared + (block & 1) * blockBytes);
                        p0 = nPanels * t / threads;
                        p1 = nPanels * (t + 1) / threads;
                    }
                    for (int p = p0; p < p1; p++)
                    {
                        int nb = Math.Min(nr, nc - p * nr);
                        PackB(B + pc * RsB + (jc + p * nr) * CsB, RsB, CsB, kc, nb, PackedWidth(nb), bPack + p * nr * kc);
                    }
                    gate?.Wait(block++, threads);
                    for (int ic = i0; ic < i1; ic += MC)
                    {
                        int mc = Math.Min(MC, i1 - ic);
                        int mPanels = (mc + MR - 1) / MR;
                        for (int ip = 0; ip < mPanels; ip++)
                        {
                            int mb = Math.Min(MR, mc - ip * MR);
                            if (!direct || mb < MR)
                            {
                                PackA(A + (ic + ip * MR) * RsA + pc * CsA, RsA, CsA, kc, mb, aPack + ip * MR * kc);
                            }
                        }
                        for (int jp = 0; jp < nPanels; jp++)
                        {
                            int nb = Math.Min(nr, nc - jp * nr), pw = PackedWidth(nb);
                            for (int ip = 0; ip < mPanels; ip++)
                            {
                                int mb = Math.Min(MR, mc - ip * MR);
                                T* cTile = C + (ic + ip * MR) * Ldc + jc + jp * nr;
                                if (direct && mb == MR)
                                {
                                    MicroKernel(kc, A + (ic + ip * MR) * RsA + pc, RsA, 1, bPack + jp * nr * kc, cTile, Ldc, mb, nb, pw, Alpha, betaBlock);
                                }
                                else
                                {
                                    MicroKernel(kc, aPack + ip * MR * kc, 1, MR, bPack + jp * nr * kc, cTile, Ldc, mb, nb, pw, Alpha, betaBlock);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>Packing buffers kept per thread and grown on demand, so a product allocates nothing once warm.</summary>
    private static class Scratch
    {
        [ThreadStatic] private static nint s_p0, s_p1;
        [ThreadStatic] private static long s_n0, s_n1;

        public static void* Get(int slot, long bytes)
        {
            ref nint p = ref slot == 0 ? ref s_p0 : ref s_p1;
            ref long n = ref slot == 0 ? ref s_n0 : ref s_n1;
            if (n < bytes)
            {
                NativeMemory.AlignedFree((void*)p);
                p = (nint)NativeMemory.AlignedAlloc((nuint)bytes, 64);
                n = bytes;
            }
            return (void*)p;
        }
    }

    // Ap[k*MR + i] = A[i, k], rows past m zero-filled.
    private static void PackA<T>(T* a, long rs, long cs, int kc, int m, T* ap) where T : unmanaged, INumberBase<T>
    {
        for (int k = 0; k < kc; k++)
        {
            T* dst = ap + k * MR;
            for (int i = 0; i < m; i++)
            {
                dst[i] = a[i * rs + k * cs];
            }
            for (int i = m; i < MR; i++)
            {
                dst[i] = T.Zero;
            }
        }
    }

    // Bp[k*nr + j] = B[k, j], columns past n zero-filled.
    internal static void PackB<T>(T* b, long rs, long cs, int kc, int n, int nr, T* bp) where T : unmanaged, INumberBase<T>
    {
        if (rs == 1 && cs != 1 && typeof(T) == typeof(float) && Avx.IsSupported && n >= 8)
        {
            PackTransposed((float*)b, cs, kc, n, nr, (float*)bp);
            return;
        }
        if (rs == 1 && cs != 1)
        {
            // B is a transposed row-major matrix: read each of its columns contiguously, write with stride nr.
            for (int j = 0; j < n; j++)
            {
                T* src = b + j * cs;
                T* dst = bp + j;
                for (int k = 0; k < kc; k++)
                {
                    dst[k * nr] = src[k];
                }
            }
            for (int k = 0; k < kc && n < nr; k++)
            {
                new Span<T>(bp + k * nr + n, nr - n).Clear();
            }
            return;
        }
        for (int k = 0; k < kc; k++)
        {
            T* src = b + k * rs;
            T* dst = bp + k * nr;
            if (cs == 1)
            {
                new ReadOnlySpan<T>(src, n).CopyTo(new Span<T>(dst, n));
            }
            else
            {
                for (int j = 0; j < n; j++)
                {
                    dst[j] = src[j * cs];
                }
            }
            for (int j = n; j < nr; j++)
            {
                dst[j] = T.Zero;
            }
        }
    }

    // B[k, j] = b[j * cs + k] (a transposed row-major matrix): 8 columns by 8 k at a time are read as eight
    // contiguous vectors and transposed in registers (an element-wise or gathered copy costs several times more,
    // and every thread of a row-split product packs all of B).
    private static void PackTransposed(float* b, long cs, int kc, int n, int nr, float* bp)
    {
        int n8 = n & ~7, k8 = kc & ~7;
        for (int j = 0; j < n8; j += 8)
        {
            float* src = b + j * cs;
            float* dst = bp + j;
            int k = 0;
            for (; k < k8; k += 8)
            {
                Transpose8x8(src + k, cs, dst + (long)k * nr, nr);
            }
            for (; k < kc; k++)
            {
                for (int jj = 0; jj < 8; jj++)
                {
                    dst[(long)k * nr + jj] = src[jj * cs + k];
                }
            }
        }
        for (int j = n8; j < n; j++)
        {
            for (int k = 0; k < kc; k++)
            {
                bp[(long)k * nr + j] = b[j * cs + k];
            }
        }
        for (int k = 0; k < kc && n < nr; k++)
        {
            new Span<float>(bp + (long)k * nr + n, nr - n).Clear();
        }
    }

    /// <summary>
    /// dst[c * dstStride + r] = src[r * srcStride + c] for an 8 x 8 block of floats: eight contiguous rows read as
    /// vectors and transposed in registers (unpack, shuffle, 128-bit permute), eight contiguous rows written. Needs AVX.
    /// </summary>
    internal static void Transpose8x8(float* src, long srcStride, float* dst, long dstStride)
    {
        var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + srcStride);
        var r2 = Avx.LoadVector256(src + 2 * srcStride); var r3 = Avx.LoadVector256(src + 3 * srcStride);
        var r4 = Avx.LoadVector256(src + 4 * srcStride); var r5 = Avx.LoadVector256(src + 5 * srcStride);
        var r6 = Avx.LoadVector256(src + 6 * srcStride); var r7 = Avx.LoadVector256(src + 7 * srcStride);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + dstStride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * dstStride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * dstStride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * dstStride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * dstStride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * dstStride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * dstStride, Avx.Permute2x128(u3, u7, 0x31));
    }

    // A micro-panel element (i, k) is ap[i * ars + k * acs]: packed (1, MR) or rows read in place (lda, 1).
    internal static void MicroKernel<T>(int kc, T* ap, long ars, long acs, T* bp, T* c, long ldc, int m, int n, int nr, T alpha, T beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool narrow = nr == NarrowWidth<T>();
        bool medium = Vector512.IsHardwareAccelerated && nr == 2 * Vector512<T>.Count;
        // Full tiles with plain accumulation keep C in registers: loaded (beta = 1) or zeroed (beta = 0), then stored.
        if (m == MR && n == nr && alpha == T.One && (beta == T.Zero || beta == T.One))
        {
            if (narrow)
            {
                if (Vector512.IsHardwareAccelerated) Narrow512(kc, ap, ars, acs, bp, c, ldc, beta == T.One);
                else Narrow256(kc, ap, ars, acs, bp, c, ldc, beta == T.One);
                return;
            }
            if (medium)
            {
                Medium512(kc, ap, ars, acs, bp, c, ldc, beta == T.One);
                return;
            }
            if (Vector512.IsHardwareAccelerated)
            {
                Kernel512(kc, ap, ars, acs, bp, c, ldc, beta == T.One);
                return;
            }
            if (Vector256.IsHardwareAccelerated)
            {
                Kernel256(kc, ap, ars, acs, bp, c, ldc, beta == T.One);
                return;
            }
        }
        T* tile = stackalloc T[MR * 64 * sizeof(float) / sizeof(T)];
        if (narrow)
        {
            if (Vector512.IsHardwareAccelerated) Narrow512(kc, ap, ars, acs, bp, tile, nr, false);
            else Narrow256(kc, ap, ars, acs, bp, tile, nr, false);
        }
        else if (medium)
        {
            Medium512(kc, ap, ars, acs, bp, tile, nr, false);
        }
        else if (Vector512.IsHardwareAccelerated)
        {
            Kernel512(kc, ap, ars, acs, bp, tile, nr, false);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Kernel256(kc, ap, ars, acs, bp, tile, nr, false);
        }
        else
        {
            KernelScalar(kc, ap, ars, acs, bp, tile, nr);
        }
        for (int i = 0; i < m; i++)
        {
            var crow = new Span<T>(c + i * ldc, n);
            var trow = new ReadOnlySpan<T>(tile + i * nr, n);
            if (beta == T.Zero)
            {
                if (alpha == T.One) trow.CopyTo(crow);
                else System.Numerics.Tensors.TensorPrimitives.Multiply(trow, alpha, crow);
            }
            else
            {
                // crow = alpha * trow + beta * crow, vectorized.
                if (beta != T.One) System.Numerics.Tensors.TensorPrimitives.Multiply(crow, beta, crow);
                if (alpha == T.One) System.Numerics.Tensors.TensorPrimitives.Add(crow, trow, crow);
                else System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(trow, alpha, crow, crow);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Fma512<T>(Vector512<T> a, Vector512<T> b, Vector512<T> c) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            return Vector512.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        }
        return Vector512.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Fma256<T>(Vector256<T> a, Vector256<T> b, Vector256<T> c) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            return Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        }
        return Vector256.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    }

    // 6 rows x 4 vectors of accumulators held in registers across the whole k loop; C rows are ldc apart.
    private static void Kernel512<T>(int kc, T* ap, long ars, long acs, T* bp, T* c, long ldc, bool load) where T : unmanaged
    {
        long r2 = 2 * ars, r3 = 3 * ars, r4 = 4 * ars, r5 = 5 * ars;
        int w = Vector512<T>.Count;
        int nr = 4 * w;
        Vector512<T> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<T> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<T> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<T> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<T> c40 = default, c41 = default, c42 = default, c43 = default;
        Vector512<T> c50 = default, c51 = default, c52 = default, c53 = default;
        if (load)
        {
            c00 = Vector512.Load(c); c01 = Vector512.Load(c + w); c02 = Vector512.Load(c + 2 * w); c03 = Vector512.Load(c + 3 * w);
            c10 = Vector512.Load(c + ldc); c11 = Vector512.Load(c + ldc + w); c12 = Vector512.Load(c + ldc + 2 * w); c13 = Vector512.Load(c + ldc + 3 * w);
            c20 = Vector512.Load(c + 2 * ldc); c21 = Vector512.Load(c + 2 * ldc + w); c22 = Vector512.Load(c + 2 * ldc + 2 * w); c23 = Vector512.Load(c + 2 * ldc + 3 * w);
            c30 = Vector512.Load(c + 3 * ldc); c31 = Vector512.Load(c + 3 * ldc + w); c32 = Vector512.Load(c + 3 * ldc + 2 * w); c33 = Vector512.Load(c + 3 * ldc + 3 * w);
            c40 = Vector512.Load(c + 4 * ldc); c41 = Vector512.Load(c + 4 * ldc + w); c42 = Vector512.Load(c + 4 * ldc + 2 * w); c43 = Vector512.Load(c + 4 * ldc + 3 * w);
            c50 = Vector512.Load(c + 5 * ldc); c51 = Vector512.Load(c + 5 * ldc + w); c52 = Vector512.Load(c + 5 * ldc + 2 * w); c53 = Vector512.Load(c + 5 * ldc + 3 * w);
        }
        for (int k = 0; k < kc; k++)
        {
            Vector512<T> b0 = Vector512.Load(bp), b1 = Vector512.Load(bp + w), b2 = Vector512.Load(bp + 2 * w), b3 = Vector512.Load(bp + 3 * w);
            Vector512<T> a = Vector512.Create(ap[0]);
            c00 = Fma512(a, b0, c00); c01 = Fma512(a, b1, c01); c02 = Fma512(a, b2, c02); c03 = Fma512(a, b3, c03);
            a = Vector512.Create(ap[ars]);
            c10 = Fma512(a, b0, c10); c11 = Fma512(a, b1, c11); c12 = Fma512(a, b2, c12); c13 = Fma512(a, b3, c13);
            a = Vector512.Create(ap[r2]);
            c20 = Fma512(a, b0, c20); c21 = Fma512(a, b1, c21); c22 = Fma512(a, b2, c22); c23 = Fma512(a, b3, c23);
            a = Vector512.Create(ap[r3]);
            c30 = Fma512(a, b0, c30); c31 = Fma512(a, b1, c31); c32 = Fma512(a, b2, c32); c33 = Fma512(a, b3, c33);
            a = Vector512.Create(ap[r4]);
            c40 = Fma512(a, b0, c40); c41 = Fma512(a, b1, c41); c42 = Fma512(a, b2, c42); c43 = Fma512(a, b3, c43);
            a = Vector512.Create(ap[r5]);
            c50 = Fma512(a, b0, c50); c51 = Fma512(a, b1, c51); c52 = Fma512(a, b2, c52); c53 = Fma512(a, b3, c53);
            ap += acs;
            bp += nr;
        }
        c00.Store(c); c01.Store(c + w); c02.Store(c + 2 * w); c03.Store(c + 3 * w); c += ldc;
        c10.Store(c); c11.Store(c + w); c12.Store(c + 2 * w); c13.Store(c + 3 * w); c += ldc;
        c20.Store(c); c21.Store(c + w); c22.Store(c + 2 * w); c23.Store(c + 3 * w); c += ldc;
        c30.Store(c); c31.Store(c + w); c32.Store(c + 2 * w); c33.Store(c + 3 * w); c += ldc;
        c40.Store(c); c41.Store(c + w); c42.Store(c + 2 * w); c43.Store(c + 3 * w); c += ldc;
        c50.Store(c); c51.Store(c + w); c52.Store(c + 2 * w); c53.Store(c + 3 * w);
    }

    // 6 rows x 2 vectors of accumulators held in registers across the whole k loop; C rows are ldc apart.
    private static void Kernel256<T>(int kc, T* ap, long ars, long acs, T* bp, T* c, long ldc, bool load) where T : unmanaged
    {
        long r2 = 2 * ars, r3 = 3 * ars, r4 = 4 * ars, r5 = 5 * ars;
        int w = Vector256<T>.Count;
        int nr = 2 * w;
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        if (load)
        {
            c00 = Vector256.Load(c); c01 = Vector256.Load(c + w);
            c10 = Vector256.Load(c + ldc); c11 = Vector256.Load(c + ldc + w);
            c20 = Vector256.Load(c + 2 * ldc); c21 = Vector256.Load(c + 2 * ldc + w);
            c30 = Vector256.Load(c + 3 * ldc); c31 = Vector256.Load(c + 3 * ldc + w);
            c40 = Vector256.Load(c + 4 * ldc); c41 = Vector256.Load(c + 4 * ldc + w);
            c50 = Vector256.Load(c + 5 * ldc); c51 = Vector256.Load(c + 5 * ldc + w);
        }
        for (int k = 0; k < kc; k++)
        {
            Vector256<T> b0 = Vector256.Load(bp), b1 = Vector256.Load(bp + w);
            Vector256<T> a = Vector256.Create(ap[0]);
            c00 = Fma256(a, b0, c00); c01 = Fma256(a, b1, c01);
            a = Vector256.Create(ap[ars]);
            c10 = Fma256(a, b0, c10); c11 = Fma256(a, b1, c11);
            a = Vector256.Create(ap[r2]);
            c20 = Fma256(a, b0, c20); c21 = Fma256(a, b1, c21);
            a = Vector256.Create(ap[r3]);
            c30 = Fma256(a, b0, c30); c31 = Fma256(a, b1, c31);
            a = Vector256.Create(ap[r4]);
            c40 = Fma256(a, b0, c40); c41 = Fma256(a, b1, c41);
            a = Vector256.Create(ap[r5]);
            c50 = Fma256(a, b0, c50); c51 = Fma256(a, b1, c51);
            ap += acs;
            bp += nr;
        }
        c00.Store(c); c01.Store(c + w); c += ldc;
        c10.Store(c); c11.Store(c + w); c += ldc;
        c20.Store(c); c21.Store(c + w); c += ldc;
        c30.Store(c); c31.Store(c + w); c += ldc;
        c40.Store(c); c41.Store(c + w); c += ldc;
        c50.Store(c); c51.Store(c + w);
    }

    // 6 rows x 2 vectors of 512 bits: the tile of a panel of 17-32 float columns (Kernel256's shape at twice the width).
    private static void Medium512<T>(int kc, T* ap, long ars, long acs, T* bp, T* c, long ldc, bool load) where T : unmanaged
    {
        long r2 = 2 * ars, r3 = 3 * ars, r4 = 4 * ars, r5 = 5 * ars;
        int w = Vector512<T>.Count;
        int nr = 2 * w;
        Vector512<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        if (load)
        {
            c00 = Vector512.Load(c); c01 = Vector512.Load(c + w);
            c10 = Vector512.Load(c + ldc); c11 = Vector512.Load(c + ldc + w);
            c20 = Vector512.Load(c + 2 * ldc); c21 = Vector512.Load(c + 2 * ldc + w);
            c30 = Vector512.Load(c + 3 * ldc); c31 = Vector512.Load(c + 3 * ldc + w);
            c40 = Vector512.Load(c + 4 * ldc); c41 = Vector512.Load(c + 4 * ldc + w);
            c50 = Vector512.Load(c + 5 * ldc); c51 = Vector512.Load(c + 5 * ldc + w);
        }
        for (int k = 0; k < kc; k++)
        {
            Vector512<T> b0 = Vector512.Load(bp), b1 = Vector512.Load(bp + w);
            Vector512<T> a = Vector512.Create(ap[0]);
            c00 = Fma512(a, b0, c00); c01 = Fma512(a, b1, c01);
            a = Vector512.Create(ap[ars]);
            c10 = Fma512(a, b0, c10); c11 = Fma512(a, b1, c11);
            a = Vector512.Create(ap[r2]);
            c20 = Fma512(a, b0, c20); c21 = Fma512(a, b1, c21);
            a = Vector512.Create(ap[r3]);
            c30 = Fma512(a, b0, c30); c31 = Fma512(a, b1, c31);
            a = Vector512.Create(ap[r4]);
            c40 = Fma512(a, b0, c40); c41 = Fma512(a, b1, c41);
            a = Vector512.Create(ap[r5]);
            c50 = Fma512(a, b0, c50); c51 = Fma512(a, b1, c51);
            ap += acs;
            bp += nr;
        }
        c00.Store(c); c01.Store(c + w); c += ldc;
        c10.Store(c); c11.Store(c + w); c += ldc;
        c20.Store(c); c21.Store(c + w); c += ldc;
        c30.Store(c); c31.Store(c + w); c += ldc;
        c40.Store(c); c41.Store(c + w); c += ldc;
        c50.Store(c); c51.Store(c + w);
    }

    // 6 rows x 1 vector: the narrow panel's tile.
    private static void Narrow512<T>(int kc, T* ap, long ars, long acs, T* bp, T* c, long ldc, bool load) where T : unmanaged
    {
        long r2 = 2 * ars, r3 = 3 * ars, r4 = 4 * ars, r5 = 5 * ars;
        int w = Vector512<T>.Count;
        Vector512<T> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        if (load)
        {
            c0 = Vector512.Load(c); c1 = Vector512.Load(c + ldc); c2 = Vector512.Load(c + 2 * ldc);
            c3 = Vector512.Load(c + 3 * ldc); c4 = Vector512.Load(c + 4 * ldc); c5 = Vector512.Load(c + 5 * ldc);
        }
        for (int k = 0; k < kc; k++)
        {
            Vector512<T> b = Vector512.Load(bp);
            c0 = Fma512(Vector512.Create(ap[0]), b, c0); c1 = Fma512(Vector512.Create(ap[ars]), b, c1);
            c2 = Fma512(Vector512.Create(ap[r2]), b, c2); c3 = Fma512(Vector512.Create(ap[r3]), b, c3);
            c4 = Fma512(Vector512.Create(ap[r4]), b, c4); c5 = Fma512(Vector512.Create(ap[r5]), b, c5);
            ap += acs;
            bp += w;
        }
        c0.Store(c); c1.Store(c + ldc); c2.Store(c + 2 * ldc); c3.Store(c + 3 * ldc); c4.Store(c + 4 * ldc); c5.Store(c + 5 * ldc);
    }

    private static void Narrow256<T>(int kc, T* ap, long ars, long acs, T* bp, T* c, long ldc, bool load) where T : unmanaged
    {
        long r2 = 2 * ars, r3 = 3 * ars, r4 = 4 * ars, r5 = 5 * ars;
        int w = Vector256<T>.Count;
        Vector256<T> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        if (load)
        {
            c0 = Vector256.Load(c); c1 = Vector256.Load(c + ldc); c2 = Vector256.Load(c + 2 * ldc);
            c3 = Vector256.Load(c + 3 * ldc); c4 = Vector256.Load(c + 4 * ldc); c5 = Vector256.Load(c + 5 * ldc);
        }
        for (int k = 0; k < kc; k++)
        {
            Vector256<T> b = Vector256.Load(bp);
            c0 = Fma256(Vector256.Create(ap[0]), b, c0); c1 = Fma256(Vector256.Create(ap[ars]), b, c1);
            c2 = Fma256(Vector256.Create(ap[r2]), b, c2); c3 = Fma256(Vector256.Create(ap[r3]), b, c3);
            c4 = Fma256(Vector256.Create(ap[r4]), b, c4); c5 = Fma256(Vector256.Create(ap[r5]), b, c5);
            ap += acs;
            bp += w;
        }
        c0.Store(c); c1.Store(c + ldc); c2.Store(c + 2 * ldc); c3.Store(c + 3 * ldc); c4.Store(c + 4 * ldc); c5.Store(c + 5 * ldc);
    }

    private static void KernelScalar<T>(int kc, T* ap, long ars, long acs, T* bp, T* tile, int nr) where T : unmanaged, INumberBase<T>
    {
        new Span<T>(tile, MR * nr).Clear();
        for (int k = 0; k < kc; k++)
        {
            for (int i = 0; i < MR; i++)
            {
                T a = ap[i * ars + k * acs];
                for (int j = 0; j < nr; j++)
                {
                    tile[i * nr + j] += a * bp[k * nr + j];
                }
            }
        }
    }
}
