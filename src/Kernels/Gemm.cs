using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Mlx.Kernels;

/// <summary>
/// Blocked matrix multiply C = alpha * A B + beta * C for float and double. Operands are packed into panels
/// (so transposed or strided views cost nothing extra), then a register-blocked FMA micro-kernel of MR rows by
/// two SIMD vectors of columns runs over each panel pair. Blocks of rows are split across cores.
/// </summary>
public static unsafe class Gemm
{
    private const int MR = 6;
    private const int KC = 256;
    private const int MC = MR * 16;
    private const int NC = 2048;

    private static int VectorWidth<T>() where T : unmanaged =>
        Vector512.IsHardwareAccelerated ? Vector512<T>.Count : Vector256.IsHardwareAccelerated ? Vector256<T>.Count : 4;

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
        int nr = 2 * VectorWidth<T>();
        nint pa = (nint)A, pb = (nint)B, pc = (nint)C;
        for (int jc = 0; jc < N; jc += NC)
        {
            int nc = Math.Min(NC, N - jc);
            int nPanels = (nc + nr - 1) / nr;
            for (int pcK = 0; pcK < K; pcK += KC)
            {
                int kc = Math.Min(KC, K - pcK);
                T betaBlock = pcK == 0 ? beta : T.One;
                T* bPack = (T*)NativeMemory.AlignedAlloc((nuint)(nPanels * nr * kc * sizeof(T)), 64);
                try
                {
                    nint pbp = (nint)bPack;
                    int jcLocal = jc, pcLocal = pcK;
                    ForThreads(threads, nPanels, (long)kc * nr * 4, (s, e) =>
                    {
                        for (long p = s; p < e; p++)
                        {
                            PackB((T*)pb + pcLocal * rsB + (jcLocal + p * nr) * csB, rsB, csB, kc, (int)Math.Min(nr, nc - p * nr), nr, (T*)pbp + p * nr * kc);
                        }
                    });
                    // Row blocks of at most MC rows, as many as a multiple of the thread count, so every core
                    // gets the same share (3 blocks on 2 cores would leave one idle a third of the time).
                    threads = Math.Max(1, threads);
                    int wanted = threads * Math.Max(1, (M + threads * MC - 1) / (threads * MC));
                    int mc = Math.Max(MR, ((M + wanted - 1) / wanted + MR - 1) / MR * MR);
                    int mBlocks = (M + mc - 1) / mc;
                    ForThreads(threads, mBlocks, (long)mc * nc * kc / 4, (s, e) =>
                    {
                        T* aPack = (T*)NativeMemory.AlignedAlloc((nuint)((mc + MR) * kc * sizeof(T)), 64);
                        try
                        {
                            for (long blk = s; blk < e; blk++)
                            {
                                int ic = (int)blk * mc;
                                int mcb = Math.Min(mc, M - ic);
                                int mPanels = (mcb + MR - 1) / MR;
                                for (int ip = 0; ip < mPanels; ip++)
                                {
                                    PackA((T*)pa + (ic + ip * MR) * rsA + pcLocal * csA, rsA, csA, kc, Math.Min(MR, mcb - ip * MR), aPack + ip * MR * kc);
                                }
                                for (int jp = 0; jp < nPanels; jp++)
                                {
                                    int nb = Math.Min(nr, nc - jp * nr);
                                    for (int ip = 0; ip < mPanels; ip++)
                                    {
                                        int mb = Math.Min(MR, mcb - ip * MR);
                                        T* cTile = (T*)pc + (ic + ip * MR) * ldc + jcLocal + jp * nr;
                                        MicroKernel(kc, aPack + ip * MR * kc, (T*)pbp + jp * nr * kc, cTile, ldc, mb, nb, nr, alpha, betaBlock);
                                    }
                                }
                            }
                        }
                        finally
                        {
                            NativeMemory.AlignedFree(aPack);
                        }
                    });
                }
                finally
                {
                    NativeMemory.AlignedFree(bPack);
                }
            }
        }
    }

    private static void ForThreads(int threads, long count, long work, Action<long, long> body)
    {
        if (threads <= 1)
        {
            body(0, count);
        }
        else
        {
            Parallelism.For(count, work, body);
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
    private static void PackB<T>(T* b, long rs, long cs, int kc, int n, int nr, T* bp) where T : unmanaged, INumberBase<T>
    {
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

    private static void MicroKernel<T>(int kc, T* ap, T* bp, T* c, long ldc, int m, int n, int nr, T alpha, T beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Full tiles with plain accumulation keep C in registers: loaded (beta = 1) or zeroed (beta = 0), then stored.
        if (m == MR && n == nr && alpha == T.One && (beta == T.Zero || beta == T.One))
        {
            if (Vector512.IsHardwareAccelerated)
            {
                Kernel512(kc, ap, bp, c, ldc, beta == T.One);
                return;
            }
            if (Vector256.IsHardwareAccelerated)
            {
                Kernel256(kc, ap, bp, c, ldc, beta == T.One);
                return;
            }
        }
        T* tile = stackalloc T[MR * 64];
        if (Vector512.IsHardwareAccelerated)
        {
            Kernel512(kc, ap, bp, tile, nr, false);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Kernel256(kc, ap, bp, tile, nr, false);
        }
        else
        {
            KernelScalar(kc, ap, bp, tile, nr);
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

    // 6 rows x 2 vectors of accumulators held in registers across the whole k loop; C rows are ldc apart.
    private static void Kernel512<T>(int kc, T* ap, T* bp, T* c, long ldc, bool load) where T : unmanaged
    {
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
            a = Vector512.Create(ap[1]);
            c10 = Fma512(a, b0, c10); c11 = Fma512(a, b1, c11);
            a = Vector512.Create(ap[2]);
            c20 = Fma512(a, b0, c20); c21 = Fma512(a, b1, c21);
            a = Vector512.Create(ap[3]);
            c30 = Fma512(a, b0, c30); c31 = Fma512(a, b1, c31);
            a = Vector512.Create(ap[4]);
            c40 = Fma512(a, b0, c40); c41 = Fma512(a, b1, c41);
            a = Vector512.Create(ap[5]);
            c50 = Fma512(a, b0, c50); c51 = Fma512(a, b1, c51);
            ap += MR;
            bp += nr;
        }
        c00.Store(c); c01.Store(c + w); c += ldc;
        c10.Store(c); c11.Store(c + w); c += ldc;
        c20.Store(c); c21.Store(c + w); c += ldc;
        c30.Store(c); c31.Store(c + w); c += ldc;
        c40.Store(c); c41.Store(c + w); c += ldc;
        c50.Store(c); c51.Store(c + w);
    }

    // 6 rows x 2 vectors of accumulators held in registers across the whole k loop; C rows are ldc apart.
    private static void Kernel256<T>(int kc, T* ap, T* bp, T* c, long ldc, bool load) where T : unmanaged
    {
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
            a = Vector256.Create(ap[1]);
            c10 = Fma256(a, b0, c10); c11 = Fma256(a, b1, c11);
            a = Vector256.Create(ap[2]);
            c20 = Fma256(a, b0, c20); c21 = Fma256(a, b1, c21);
            a = Vector256.Create(ap[3]);
            c30 = Fma256(a, b0, c30); c31 = Fma256(a, b1, c31);
            a = Vector256.Create(ap[4]);
            c40 = Fma256(a, b0, c40); c41 = Fma256(a, b1, c41);
            a = Vector256.Create(ap[5]);
            c50 = Fma256(a, b0, c50); c51 = Fma256(a, b1, c51);
            ap += MR;
            bp += nr;
        }
        c00.Store(c); c01.Store(c + w); c += ldc;
        c10.Store(c); c11.Store(c + w); c += ldc;
        c20.Store(c); c21.Store(c + w); c += ldc;
        c30.Store(c); c31.Store(c + w); c += ldc;
        c40.Store(c); c41.Store(c + w); c += ldc;
        c50.Store(c); c51.Store(c + w);
    }

    private static void KernelScalar<T>(int kc, T* ap, T* bp, T* tile, int nr) where T : unmanaged, INumberBase<T>
    {
        new Span<T>(tile, MR * nr).Clear();
        for (int k = 0; k < kc; k++)
        {
            for (int i = 0; i < MR; i++)
            {
                T a = ap[k * MR + i];
                for (int j = 0; j < nr; j++)
                {
                    tile[i * nr + j] += a * bp[k * nr + j];
                }
            }
        }
    }
}
