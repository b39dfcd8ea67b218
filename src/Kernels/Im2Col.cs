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
