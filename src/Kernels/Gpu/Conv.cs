using ILGPU;
using ILGPU.Runtime;

namespace Mlx.Kernels.Gpu;

/// <summary>
/// A channels-last convolution's geometry for kernels, always 3-D: 1-D and 2-D convolutions get leading spatial
/// axes of size 1 (kernel 1, stride 1, no padding). Mirrors <see cref="ConvGeometry"/>.
/// </summary>
public struct ConvLayout
{
    public int Channels, KernelSize;
    public int S0, S1, S2, K0, K1, K2, O0, O1, O2;
    public int St0, St1, St2, P0, P1, P2, D0, D1, D2;
    public long OutputPerImage, InputPerImage, Cols;

    public static ConvLayout From(ConvGeometry g)
    {
        if (g.Spatial.Length > 3)
        {
            throw new NotSupportedException("GPU convolutions take at most 3 spatial dimensions.");
        }
        int lead = 3 - g.Spatial.Length;
        int At(int[] v, int i, int fill) => i < lead ? fill : v[i - lead];
        return new ConvLayout
        {
            Channels = g.Channels, KernelSize = g.KernelSize,
            S0 = At(g.Spatial, 0, 1), S1 = At(g.Spatial, 1, 1), S2 = At(g.Spatial, 2, 1),
            K0 = At(g.Kernel, 0, 1), K1 = At(g.Kernel, 1, 1), K2 = At(g.Kernel, 2, 1),
            O0 = At(g.Output, 0, 1), O1 = At(g.Output, 1, 1), O2 = At(g.Output, 2, 1),
            St0 = At(g.Stride, 0, 1), St1 = At(g.Stride, 1, 1), St2 = At(g.Stride, 2, 1),
            P0 = At(g.PadLow, 0, 0), P1 = At(g.PadLow, 1, 0), P2 = At(g.PadLow, 2, 0),
            D0 = At(g.Dilation, 0, 1), D1 = At(g.Dilation, 1, 1), D2 = At(g.Dilation, 2, 1),
            OutputPerImage = g.OutputPerImage, InputPerImage = g.InputPerImage, Cols = g.Cols,
        };
    }
}

/// <summary>
/// The patch copies between images (N, *S, C) and the column matrix (rows = images x output positions,
/// cols = kernel offsets x C), one element per thread, grid-stride.
/// </summary>
internal static class ConvKernels
{
    /// <summary>col = im2col(x) for images [first, first + count); padding reads as zero.</summary>
    public static void Im2Col<T>(ArrayView<T> x, ArrayView<T> col, ConvLayout g, int first, long total) where T : unmanaged
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long idx = Grid.GlobalIndex.X; idx < total; idx += stride)
        {
            long row = idx / g.Cols;
            long c = idx - row * g.Cols;
            long n = row / g.OutputPerImage;
            long op = row - n * g.OutputPerImage;
            long kf = c / g.Channels;
            long ci = c - kf * g.Channels;
            int o2 = (int)(op % g.O2), o1 = (int)(op / g.O2 % g.O1), o0 = (int)(op / g.O2 / g.O1);
            int k2 = (int)(kf % g.K2), k1 = (int)(kf / g.K2 % g.K1), k0 = (int)(kf / g.K2 / g.K1);
            int p0 = o0 * g.St0 - g.P0 + k0 * g.D0;
            int p1 = o1 * g.St1 - g.P1 + k1 * g.D1;
            int p2 = o2 * g.St2 - g.P2 + k2 * g.D2;
            bool inside = p0 >= 0 && p0 < g.S0 && p1 >= 0 && p1 < g.S1 && p2 >= 0 && p2 < g.S2;
            col[idx] = inside ? x[(first + n) * g.InputPerImage + (((long)p0 * g.S1 + p1) * g.S2 + p2) * g.Channels + ci] : default;
        }
    }

    /// <summary>
    /// dx = col2im(col) for images [first, first + count) as a gather: each input element sums the column entries of
    /// every (output position, kernel offset) pair that read it, so no two threads write one element.
    /// </summary>
    public static void Col2Im<T, TOps>(ArrayView<T> col, ArrayView<T> dx, ConvLayout g, int first, long total, TOps ops)
        where T : unmanaged where TOps : struct, IGemmOps<T>
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long idx = Grid.GlobalIndex.X; idx < total; idx += stride)
        {
            long n = idx / g.InputPerImage;
            long r = idx - n * g.InputPerImage;
            long ci = r % g.Channels;
            long sp = r / g.Channels;
            int s2 = (int)(sp % g.S2), s1 = (int)(sp / g.S2 % g.S1), s0 = (int)(sp / g.S2 / g.S1);
            T acc = default;
            for (int k0 = 0; k0 < g.K0; k0++)
            {
                int t0 = s0 + g.P0 - k0 * g.D0;
                if (t0 < 0 || t0 % g.St0 != 0 || t0 / g.St0 >= g.O0) continue;
                for (int k1 = 0; k1 < g.K1; k1++)
                {
                    int t1 = s1 + g.P1 - k1 * g.D1;
                    if (t1 < 0 || t1 % g.St1 != 0 || t1 / g.St1 >= g.O1) continue;
                    for (int k2 = 0; k2 < g.K2; k2++)
                    {
                        int t2 = s2 + g.P2 - k2 * g.D2;
                        if (t2 < 0 || t2 % g.St2 != 0 || t2 / g.St2 >= g.O2) continue;
                        long op = ((long)(t0 / g.St0) * g.O1 + t1 / g.St1) * g.O2 + t2 / g.St2;
                        long kf = ((long)k0 * g.K1 + k1) * g.K2 + k2;
                        acc = ops.Add(acc, col[(n * g.OutputPerImage + op) * g.Cols + kf * g.Channels + ci]);
                    }
                }
            }
            dx[first * g.InputPerImage + idx] = acc;
        }
    }
}

public sealed partial class GpuDevice
{
    /// <summary>Fills <paramref name="col"/> with the patches of images [first, first + count) of contiguous <paramref name="x"/>.</summary>
    public void Im2Col(GpuType t, GpuMemory x, GpuMemory col, ConvLayout g, int first, int count)
    {
        long total = count * g.OutputPerImage * g.Cols;
        if (total == 0)
        {
            return;
        }
        switch (t)
        {
            case GpuType.Float32: Im2ColImpl<float>(x, col, g, first, total); break;
            case GpuType.Float64: Im2ColImpl<double>(x, col, g, first, total); break;
            default: throw new ArgumentException($"Convolution kernels compute in float32 or float64, not {t}.");
        }
    }

    private void Im2ColImpl<T>(GpuMemory x, GpuMemory col, ConvLayout g, int first, long total) where T : unmanaged
    {
        var k = Kernel("conv.im2col", a => a.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ConvLayout, int, long>(ConvKernels.Im2Col));
        k(GridFor(total), x.View<T>(), col.View<T>(), g, first, total);
    }

    /// <summary>Writes images [first, first + count) of contiguous <paramref name="dx"/> from their column matrix (every element, zeros included).</summary>
    public void Col2Im(GpuType t, GpuMemory col, GpuMemory dx, ConvLayout g, int first, int count)
    {
        long total = count * g.InputPerImage;
        if (total == 0)
        {
            return;
        }
        switch (t)
        {
            case GpuType.Float32: Col2ImImpl<float, F32Gemm>(col, dx, g, first, total); break;
            case GpuType.Float64: Col2ImImpl<double, F64Gemm>(col, dx, g, first, total); break;
            default: throw new ArgumentException($"Convolution kernels compute in float32 or float64, not {t}.");
        }
    }

    private void Col2ImImpl<T, TOps>(GpuMemory col, GpuMemory dx, ConvLayout g, int first, long total)
        where T : unmanaged where TOps : struct, IGemmOps<T>
    {
        var k = Kernel("conv.col2im", a => a.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ConvLayout, int, long, TOps>(ConvKernels.Col2Im));
        k(GridFor(total), col.View<T>(), dx.View<T>(), g, first, total, default);
    }
}
