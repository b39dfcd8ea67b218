using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Mlx.Kernels;

/// <summary>
/// Geometry of an N-d channels-last convolution and the patch copies between an input (N, *S, C) and a column
/// matrix (rows = N * prod(out), cols = prod(kernel) * C): im2col for the forward pass and weight gradient,
/// col2im (accumulating) for the input gradient.
/// </summary>
public sealed class ConvGeometry
{
    public ConvGeometry(int batch, int[] spatial, int channels, int[] kernel, int[] stride, int[] padLow, int[] dilation)
    {
        Batch = batch;
        Spatial = spatial;
        Channels = channels;
        Kernel = kernel;
        Stride = stride;
        PadLow = padLow;
        Dilation = dilation;
        Output = new int[spatial.Length];
        for (int i = 0; i < spatial.Length; i++)
        {
            int span = dilation[i] * (kernel[i] - 1) + 1;
            Output[i] = Math.Max(0, (spatial[i] + 2 * padLow[i] - span) / stride[i] + 1);
        }
        OutputPerImage = Output.Aggregate(1L, (a, b) => a * b);
        KernelSize = kernel.Aggregate(1, (a, b) => a * b);
        InputPerImage = spatial.Aggregate(1L, (a, b) => a * b) * channels;
    }

    public int Batch { get; }
    public int[] Spatial { get; }
    public int Channels { get; }
    public int[] Kernel { get; }
    public int[] Stride { get; }
    public int[] PadLow { get; }
    public int[] Dilation { get; }
    public int[] Output { get; }
    public long OutputPerImage { get; }
    public int KernelSize { get; }
    public long InputPerImage { get; }
    public long Cols => (long)KernelSize * Channels;

    private long[]? _offsets;

    /// <summary>
    /// Input offset (in elements, before the channel) of every (output position, kernel offset) pair of one
    /// image, or -1 where it falls in the padding. The same for every image, so it is computed once.
    /// </summary>
    private long[] Offsets => _offsets ??= BuildOffsets();

    private long[] BuildOffsets()
    {
        int d = Spatial.Length;
        var table = new long[OutputPerImage * KernelSize];
        var o = new int[d];
        var k = new int[d];
        long t = 0;
        for (long r = 0; r < OutputPerImage; r++)
        {
            for (int kk = 0; kk < KernelSize; kk++)
            {
                long off = 0;
                bool inside = true;
                for (int i = 0; i < d; i++)
                {
                    int pos = o[i] * Stride[i] - PadLow[i] + k[i] * Dilation[i];
                    if (pos < 0 || pos >= Spatial[i])
                    {
                        inside = false;
                        break;
                    }
                    off = off * Spatial[i] + pos;
                }
                table[t++] = inside ? off * Channels : -1;
                for (int i = d - 1; i >= 0; i--)
                {
                    if (++k[i] < Kernel[i]) break;
                    k[i] = 0;
                }
            }
            for (int i = d - 1; i >= 0; i--)
            {
                if (++o[i] < Output[i]) break;
                o[i] = 0;
            }
        }
        return table;
    }

    /// <summary>Fills col rows [image*OutputPerImage ...) for images [first, first+count) from contiguous x.</summary>
    public unsafe void Im2Col<T>(T* x, int first, int count, T* col) where T : unmanaged
    {
        nint px = (nint)x, pc = (nint)col;
        int c = Channels;
        long[] offsets = Offsets;
        long perImage = OutputPerImage * Cols;
        Parallelism.For(count, perImage, (s, e) =>
        {
            for (long n = s; n < e; n++)
            {
                T* src = (T*)px + (first + n) * InputPerImage;
                T* dst = (T*)pc + n * perImage;
                if (c == 1)
                {
                    for (long t = 0; t < offsets.Length; t++)
                    {
                        long off = offsets[t];
                        dst[t] = off < 0 ? default : src[off];
                    }
                    continue;
                }
                for (long t = 0; t < offsets.Length; t++)
                {
                    long off = offsets[t];
                    var target = new Span<T>(dst + t * c, c);
                    if (off < 0) target.Clear();
                    else new ReadOnlySpan<T>(src + off, c).CopyTo(target);
                }
            }
        });
    }

    /// <summary>
    /// The forward convolution of small patches (at most 32 taps x channels: a first layer over one or three input
    /// channels) into 16, 32, 48 or 64 float32 output channels, directly: each output position keeps its channels in
    /// Vector512 accumulators and adds each tap's input value times that tap's weight row, so no patch is gathered and
    /// no GEMM tile is padded (the CNN's 3x3 first layer on one channel: 2.5 ms a batch through the implicit GEMM's
    /// gathered tiles). Returns false, doing nothing, for other shapes and types.
    /// </summary>
    public unsafe bool TryForwardSmallPatches<T>(T* x, T* w, int cout, T* o) where T : unmanaged
    {
        if (!SmallPatches<T>(cout))
        {
            return false;
        }
        int kc = (int)Cols, vecs = cout / 16, ks = KernelSize, c = Channels;
        // The weight (cout, kc) transposed to (kc, cout): a tap's weights for every output channel side by side.
        var wT = new float[kc * cout];
        for (int oc = 0; oc < cout; oc++)
            for (int t = 0; t < kc; t++)
                wT[t * cout + oc] = ((float*)w)[oc * kc + t];
        long[] offsets = Offsets;
        long total = Batch * OutputPerImage, perImage = OutputPerImage, inputPerImage = InputPerImage;
        nint px = (nint)x, po = (nint)o;
        Parallelism.For(total, (long)kc * cout, (s, e) =>
        {
            fixed (float* pw = wT)
            {
                long r = s;
                if (vecs == 1)
                {
                    // Sixteen output channels (a first layer): four positions at a time, so that four chains of FMAs
                    // overlap instead of one position's taps waiting on each other (each position still adds its taps
                    // in the same order: the same results).
                    for (; r + 4 <= e; r += 4)
                    {
                        FourPositions(r, pw);
                    }
                }
                for (; r < e; r++)
                {
                    long n = r / perImage, p = r - n * perImage;
                    float* src = (float*)px + n * inputPerImage;
                    Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    for (int kk = 0; kk < ks; kk++)
                    {
                        long off = offsets[p * ks + kk];
                        if (off < 0) continue; // padding: the tap adds nothing
                        for (int ch = 0; ch < c; ch++)
                        {
                            var xv = Vector512.Create(src[off + ch]);
                            float* wr = pw + (kk * c + ch) * cout;
                            a0 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(wr), a0);
                            if (vecs > 1) a1 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(wr + 16), a1);
                            if (vecs > 2) a2 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(wr + 32), a2);
                            if (vecs > 3) a3 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(wr + 48), a3);
                        }
                    }
                    float* dst = (float*)po + r * cout;
                    a0.Store(dst);
                    if (vecs > 1) a1.Store(dst + 16);
                    if (vecs > 2) a2.Store(dst + 32);
                    if (vecs > 3) a3.Store(dst + 48);
                }

                void FourPositions(long r, float* pw)
                {
                    var (p0, p1, p2, p3) = Quad(r, perImage, (float*)px, inputPerImage, out float* s0, out float* s1, out float* s2, out float* s3);
                    Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    for (int kk = 0; kk < ks; kk++)
                    {
                        long o0 = offsets[p0 * ks + kk], o1 = offsets[p1 * ks + kk], o2 = offsets[p2 * ks + kk], o3 = offsets[p3 * ks + kk];
                        for (int ch = 0; ch < c; ch++)
                        {
                            var wv = Vector512.Load(pw + (kk * c + ch) * 16);
                            if (o0 >= 0) a0 = Vector512.FusedMultiplyAdd(Vector512.Create(s0[o0 + ch]), wv, a0);
                            if (o1 >= 0) a1 = Vector512.FusedMultiplyAdd(Vector512.Create(s1[o1 + ch]), wv, a1);
                            if (o2 >= 0) a2 = Vector512.FusedMultiplyAdd(Vector512.Create(s2[o2 + ch]), wv, a2);
                            if (o3 >= 0) a3 = Vector512.FusedMultiplyAdd(Vector512.Create(s3[o3 + ch]), wv, a3);
                        }
                    }
                    float* dst = (float*)po + r * 16;
                    a0.Store(dst);
                    a1.Store(dst + 16);
                    a2.Store(dst + 32);
                    a3.Store(dst + 48);
                }
            }
        });
        return true;
    }

    // Output positions r to r + 3 of the batch: each one's position in its image (returned) and its image's input
    // (s0-s3), one division and the rest by carrying into the next image.
    private static unsafe (long, long, long, long) Quad(long r, long perImage, float* x, long inputPerImage, out float* s0, out float* s1, out float* s2, out float* s3)
    {
        long n = r / perImage, p = r - n * perImage;
        long p0 = p;
        s0 = x + n * inputPerImage;
        if (++p == perImage) { n++; p = 0; }
        long p1 = p;
        s1 = x + n * inputPerImage;
        if (++p == perImage) { n++; p = 0; }
        long p2 = p;
        s2 = x + n * inputPerImage;
        if (++p == perImage) { n++; p = 0; }
        s3 = x + n * inputPerImage;
        return (p0, p1, p2, p);
    }

    // At most 32 taps x channels into 16, 32, 48 or 64 float32 output channels, with Vector512.
    private bool SmallPatches<T>(int cout) => typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated && cout % 16 == 0 && cout <= 64 && Cols <= 32;

    /// <summary>
    /// The weight gradient of the same small-patch convolutions: dw[oc, t] = sum over positions of g[position, oc]
    /// times the position's input at tap t. Each thread sums its contiguous share of the positions into per-tap
    /// vectors of output channels; the shares are added in thread order (the result depends on the thread count
    /// only). Returns false, doing nothing, where <see cref="TryForwardSmallPatches"/> does.
    /// </summary>
    public unsafe bool TryWeightGradSmallPatches<T>(T* x, T* g, int cout, T* dw) where T : unmanaged
    {
        if (!SmallPatches<T>(cout))
        {
            return false;
        }
        int kc = (int)Cols, vecs = cout / 16, ks = KernelSize, c = Channels;
        long[] offsets = Offsets;
        long total = Batch * OutputPerImage, perImage = OutputPerImage, inputPerImage = InputPerImage;
        int threads = (int)Math.Clamp(total * kc * cout / (1L << 18), 1, Parallelism.MaxThreads);
        var partial = new float[threads][];
        nint px = (nint)x, pg = (nint)g;
        Parallelism.Run(threads, t =>
        {
            var sums = partial[t] = new float[kc * cout];
            fixed (float* acc = sums)
            {
                long r = t * total / threads, end = (t + 1) * total / threads;
                if (vecs == 1)
                {
                    // Sixteen output channels: four positions per pass over the taps, each tap's sums loaded and
                    // stored once for the four (added in position order: the same results), and one division.
                    for (; r + 4 <= end; r += 4)
                    {
                        FourPositions(r, acc);
                    }
                }
                for (; r < end; r++)
                {
                    long n = r / perImage, p = r - n * perImage;
                    float* src = (float*)px + n * inputPerImage;
                    float* gr = (float*)pg + r * cout;
                    Vector512<float> g0 = Vector512.Load(gr), g1 = vecs > 1 ? Vector512.Load(gr + 16) : default;
                    Vector512<float> g2 = vecs > 2 ? Vector512.Load(gr + 32) : default, g3 = vecs > 3 ? Vector512.Load(gr + 48) : default;
                    for (int kk = 0; kk < ks; kk++)
                    {
                        long off = offsets[p * ks + kk];
                        if (off < 0) continue; // padding: no input at this tap
                        for (int ch = 0; ch < c; ch++)
                        {
                            var xv = Vector512.Create(src[off + ch]);
                            float* a = acc + (kk * c + ch) * cout;
                            Vector512.FusedMultiplyAdd(xv, g0, Vector512.Load(a)).Store(a);
                            if (vecs > 1) Vector512.FusedMultiplyAdd(xv, g1, Vector512.Load(a + 16)).Store(a + 16);
                            if (vecs > 2) Vector512.FusedMultiplyAdd(xv, g2, Vector512.Load(a + 32)).Store(a + 32);
                            if (vecs > 3) Vector512.FusedMultiplyAdd(xv, g3, Vector512.Load(a + 48)).Store(a + 48);
                        }
                    }
                }
            }

            void FourPositions(long r, float* acc)
            {
                var (p0, p1, p2, p3) = Quad(r, perImage, (float*)px, inputPerImage, out float* s0, out float* s1, out float* s2, out float* s3);
                float* gr = (float*)pg + r * 16;
                Vector512<float> g0 = Vector512.Load(gr), g1 = Vector512.Load(gr + 16), g2 = Vector512.Load(gr + 32), g3 = Vector512.Load(gr + 48);
                for (int kk = 0; kk < ks; kk++)
                {
                    long o0 = offsets[p0 * ks + kk], o1 = offsets[p1 * ks + kk], o2 = offsets[p2 * ks + kk], o3 = offsets[p3 * ks + kk];
                    for (int ch = 0; ch < c; ch++)
                    {
                        float* a = acc + (kk * c + ch) * 16;
                        var sum = Vector512.Load(a);
                        if (o0 >= 0) sum = Vector512.FusedMultiplyAdd(Vector512.Create(s0[o0 + ch]), g0, sum);
                        if (o1 >= 0) sum = Vector512.FusedMultiplyAdd(Vector512.Create(s1[o1 + ch]), g1, sum);
                        if (o2 >= 0) sum = Vector512.FusedMultiplyAdd(Vector512.Create(s2[o2 + ch]), g2, sum);
                        if (o3 >= 0) sum = Vector512.FusedMultiplyAdd(Vector512.Create(s3[o3 + ch]), g3, sum);
                        sum.Store(a);
                    }
                }
            }
        });
        // (kc, cout) sums of each share, added in thread order, into dw (cout, kc).
        for (int t = 0; t < kc; t++)
        {
            for (int oc = 0; oc < cout; oc++)
            {
                float s = partial[0][t * cout + oc];
                for (int th = 1; th < threads; th++) s += partial[th][t * cout + oc];
                ((float*)dw)[oc * kc + t] = s;
            }
        }
        return true;
    }

    /// <summary>
    /// The forward convolution as an implicit GEMM, out[rows, cout] = patches(x) @ w^T with w (cout, Cols) row-major,
    /// without a column matrix: the weight is packed once into the GEMM's panels and shared by the threads, and each
    /// tile of <see cref="Gemm.MR"/> output positions feeds the micro-kernel straight from x wherever its patches are
    /// runs of contiguous channels (one run per outer kernel offset, the last kernel axis included when undilated).
    /// Tiles at the borders or across output rows gather their patches into a small buffer instead. Returns false,
    /// doing nothing, when one packed weight panel would not stay in L2; the caller then goes through im2col.
    /// </summary>
    public unsafe bool TryForward<T>(T* x, T* w, int cout, T* o) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Fewer output channels than a panel is wide: one panel two vectors wide for 17-32 channels (AVX-512), else
        // panels one vector wide, which the micro-kernel runs whole, instead of a wide panel mostly padding that takes
        // its partial-tile path.
        int narrow = Gemm.NarrowWidth<T>();
        int nr = cout >= Gemm.PanelWidth<T>() || narrow == 0 ? Gemm.PanelWidth<T>()
            : cout > narrow && cout <= 2 * narrow && Vector512.IsHardwareAccelerated ? 2 * narrow : narrow;
        int mr = Gemm.MR;
        int kt = (int)Cols, c = Channels, d = Spatial.Length, last = d - 1;
        if ((long)kt * nr * sizeof(T) > CacheInfo.L2 / 2)
        {
            return false;
        }
        long total = Batch * OutputPerImage;
        if (total == 0 || cout == 0)
        {
            return true;
        }
        int runDims = Dilation[last] == 1 ? last : d;
        int runLen = runDims == last ? Kernel[last] * c : c;
        int runs = kt / runLen;
        // Shorter runs would spend more on the micro-kernel's loads and stores of C than gathering costs.
        bool direct = runLen >= 32;
        // Element strides of the spatial axes in x, and per run its offset from the patch origin and its kernel shifts.
        var sp = new long[d];
        sp[last] = c;
        for (int i = last - 1; i >= 0; i--) sp[i] = sp[i + 1] * Spatial[i + 1];
        var runDelta = new long[runs];
        var runShift = new int[runs * d];
        for (int r = 0; r < runs; r++)
        {
            for (int i = runDims - 1, rest = r; i >= 0; i--)
            {
                int shift = rest % Kernel[i] * Dilation[i];
                rest /= Kernel[i];
                runShift[r * d + i] = shift;
                runDelta[r] += shift * sp[i];
            }
        }
        int panels = (cout + nr - 1) / nr;
        T* packed = (T*)NativeMemory.AlignedAlloc((nuint)((long)panels * nr * kt * sizeof(T)), 64);
        try
        {
            for (int p = 0; p < panels; p++)
            {
                Gemm.PackB(w + (long)p * nr * kt, 1, kt, kt, Math.Min(nr, cout - p * nr), nr, packed + (long)p * nr * kt);
            }
            _ = Offsets; // built here once rather than by each thread's first gathered tile
            nint px = (nint)x, pb = (nint)packed, po = (nint)o;
            long tiles = (total + mr - 1) / mr;
            int wo = Output[last], sLast = Stride[last], spanLast = Dilation[last] * (Kernel[last] - 1);
            // Threads take chunks of tiles on demand rather than fixed halves, so a core slowed by other work takes fewer.
            const int Grain = 16;
            long chunks = (tiles + Grain - 1) / Grain, next = 0;
            int threads = total * kt * cout < (1L << 19) ? 1 : (int)Math.Min(Parallelism.MaxThreads, chunks);
            Parallelism.Run(threads, _ =>
            {
                T* col = (T*)NativeMemory.AlignedAlloc((nuint)((long)mr * kt * sizeof(T)), 64);
                int[] valid = new int[runs];
                int[] pos = new int[d];
                try
                {
                    for (long chunk; (chunk = Interlocked.Increment(ref next) - 1) < chunks;)
                    for (long t = chunk * Grain, end = Math.Min(tiles, t + Grain); t < end; t++)
                    {
                        long p0 = t * mr;
                        int m = (int)Math.Min(mr, total - p0);
                        long n = Math.DivRem(p0, OutputPerImage, out long q);
                        long rowIndex = Math.DivRem(q, wo, out long ow);
                        int nValid = 0;
                        long origin = 0;
                        if (direct && m == mr && ow + mr <= wo && ow * sLast - PadLow[last] >= 0 && (ow + mr - 1) * sLast - PadLow[last] + spanLast < Spatial[last])
                        {
                            // All MR positions share one output row and read inside x along the last axis.
                            origin = n * InputPerImage + (ow * sLast - PadLow[last]) * c;
                            for (int i = last - 1; i >= 0; i--)
                            {
                                rowIndex = Math.DivRem(rowIndex, Output[i], out long oi);
                                pos[i] = (int)oi * Stride[i] - PadLow[i];
                                origin += pos[i] * sp[i];
                            }
                            for (int r = 0; r < runs; r++)
                            {
                                bool inside = true;
                                for (int i = 0; i < last && inside; i++)
                                {
                                    int at = pos[i] + runShift[r * d + i];
                                    inside = at >= 0 && at < Spatial[i];
                                }
                                if (inside) valid[nValid++] = r;
                            }
                        }
                        T* xs = (T*)px;
                        if (nValid == 0)
                        {
                            Im2ColRows(xs, p0, m, col);
                        }
                        for (int jp = 0; jp < panels; jp++)
                        {
                            int nb = Math.Min(nr, cout - jp * nr);
                            T* bp = (T*)pb + (long)jp * nr * kt;
                            T* ct = (T*)po + p0 * cout + jp * nr;
                            if (nValid == 0)
                            {
                                Gemm.MicroKernel(kt, col, kt, 1, bp, ct, cout, m, nb, nr, T.One, T.Zero);
                                continue;
                            }
                            for (int v = 0; v < nValid; v++)
                            {
                                int r = valid[v];
                                Gemm.MicroKernel(runLen, xs + origin + runDelta[r], (long)sLast * c, 1, bp + (long)r * runLen * nr, ct, cout, mr, nb, nr, T.One, v == 0 ? T.Zero : T.One);
                            }
                        }
                    }
                }
                finally
                {
                    NativeMemory.AlignedFree(col);
                }
            });
        }
        finally
        {
            NativeMemory.AlignedFree(packed);
        }
        return true;
    }

    /// <summary>Fills col with rows [row0, row0 + rows) of the whole column matrix (all images) from contiguous x, on this thread.</summary>
    public unsafe void Im2ColRows<T>(T* x, long row0, int rows, T* col) where T : unmanaged
    {
        int c = Channels, ks = KernelSize;
        long[] offsets = Offsets;
        for (int r = 0; r < rows; r++)
        {
            long n = Math.DivRem(row0 + r, OutputPerImage, out long p);
            T* src = x + n * InputPerImage;
            T* dst = col + r * Cols;
            for (int kk = 0; kk < ks; kk++)
            {
                long off = offsets[p * ks + kk];
                if (c == 1)
                {
                    dst[kk] = off < 0 ? default : src[off];
                }
                else if (off < 0)
                {
                    new Span<T>(dst + kk * c, c).Clear();
                }
                else
                {
                    new ReadOnlySpan<T>(src + off, c).CopyTo(new Span<T>(dst + kk * c, c));
                }
            }
        }
    }

    /// <summary>Adds the col rows of images [first, first+count) back into dx (which must start zeroed).</summary>
    public unsafe void Col2Im<T>(T* col, int first, int count, T* dx) where T : unmanaged, System.Numerics.INumber<T>
    {
        nint pdx = (nint)dx, pc = (nint)col;
        int c = Channels;
        long[] offsets = Offsets;
        long perImage = OutputPerImage * Cols;
        // Images are independent, so threads split them; within an image the adds overlap and stay sequential.
        Parallelism.For(count, perImage, (s, e) =>
        {
            for (long n = s; n < e; n++)
            {
                T* dst = (T*)pdx + (first + n) * InputPerImage;
                T* src = (T*)pc + n * perImage;
                for (long t = 0; t < offsets.Length; t++)
                {
                    long off = offsets[t];
                    if (off < 0) continue;
                    if (c == 1)
                    {
                        dst[off] += src[t];
                        continue;
                    }
                    var acc = new Span<T>(dst + off, c);
                    System.Numerics.Tensors.TensorPrimitives.Add(acc, new ReadOnlySpan<T>(src + t * c, c), acc);
                }
            }
        });
    }
}
