using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Mlx.Kernels.Gpu;

/// <summary>
/// complex64 elementwise kernels over interleaved (real, imaginary) float32 pairs. Products and quotients go through
/// double (division by Smith's method, as System.Numerics.Complex, which the CPU kernels use).
/// </summary>
internal static class ComplexKernels
{
    public static void Binary(ArrayView<float> a, long aStep, ArrayView<float> b, long bStep, ArrayView<float> o, long n, int op)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            double ar = a[2 * i * aStep], ai = a[2 * i * aStep + 1], br = b[2 * i * bStep], bi = b[2 * i * bStep + 1];
            double re, im;
            switch ((BinaryOp)op)
            {
                case BinaryOp.Add: re = ar + br; im = ai + bi; break;
                case BinaryOp.Subtract: re = ar - br; im = ai - bi; break;
                case BinaryOp.Multiply: re = (float)(ar * br) - (float)(ai * bi); im = (float)(ar * bi) + (float)(ai * br); break;
                default:
                    if (XMath.Abs(bi) < XMath.Abs(br))
                    {
                        double r = bi / br, d = br + bi * r;
                        re = (ar + ai * r) / d;
                        im = (ai - ar * r) / d;
                    }
                    else
                    {
                        double r = br / bi, d = bi + br * r;
                        re = (ar * r + ai) / d;
                        im = (ai * r - ar) / d;
                    }
                    break;
            }
            o[2 * i] = (float)re;
            o[2 * i + 1] = (float)im;
        }
    }

    public static void Compare(ArrayView<float> a, long aStep, ArrayView<float> b, long bStep, ArrayView<byte> o, long n, int op)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            float ar = a[2 * i * aStep], ai = a[2 * i * aStep + 1], br = b[2 * i * bStep], bi = b[2 * i * bStep + 1];
            bool equal = (BinaryOp)op == BinaryOp.EqualNan
                ? (ar == br || (XMath.IsNaN(ar) && XMath.IsNaN(br))) && (ai == bi || (XMath.IsNaN(ai) && XMath.IsNaN(bi)))
                : ar == br && ai == bi;
            o[i] = ((BinaryOp)op == BinaryOp.NotEqual ? !equal : equal) ? (byte)1 : (byte)0;
        }
    }

    // Abs, Real and Imag write one float per element; the others a complex pair.
    public static void Unary(ArrayView<float> x, ArrayView<float> o, long n, int op)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            double re = x[2 * i], im = x[2 * i + 1];
            switch ((UnaryOp)op)
            {
                case UnaryOp.Abs: o[i] = (float)Hypot(re, im); continue;
                case UnaryOp.Real: o[i] = (float)re; continue;
                case UnaryOp.Imag: o[i] = (float)im; continue;
            }
            double r, m;
            switch ((UnaryOp)op)
            {
                case UnaryOp.Negative: r = -re; m = -im; break;
                case UnaryOp.Conjugate: r = re; m = -im; break;
                case UnaryOp.Square: r = re * re - im * im; m = 2 * re * im; break;
                case UnaryOp.Exp:
                    {
                        double e = XMath.Exp(re);
                        r = e * XMath.Cos(im);
                        m = e * XMath.Sin(im);
                        break;
                    }
                case UnaryOp.Log: r = XMath.Log(Hypot(re, im)); m = XMath.Atan2(im, re); break;
                case UnaryOp.Sqrt:
                    {
                        // sqrt(z) = sqrt((|z| + re) / 2) + i sign(im) sqrt((|z| - re) / 2), on the principal branch.
                        double abs = Hypot(re, im);
                        r = XMath.Sqrt((abs + re) / 2);
                        m = XMath.Sqrt((abs - re) / 2);
                        if (im < 0 || (im == 0 && Interop.FloatAsInt(im) != 0))
                        {
                            m = -m;
                        }
                        break;
                    }
                default:
                    {
                        // Reciprocal: 1 / z by Smith's method.
                        if (XMath.Abs(im) < XMath.Abs(re))
                        {
                            double q = im / re, d = re + im * q;
                            r = 1 / d;
                            m = -q / d;
                        }
                        else
                        {
                            double q = re / im, d = im + re * q;
                            r = q / d;
                            m = -1 / d;
                        }
                        break;
                    }
            }
            o[2 * i] = (float)r;
            o[2 * i + 1] = (float)m;
        }
    }

    private static double Hypot(double a, double b)
    {
        a = XMath.Abs(a);
        b = XMath.Abs(b);
        double big = a > b ? a : b, small = a > b ? b : a;
        if (big == 0 || XMath.IsInfinity(big))
        {
            return big;
        }
        double q = small / big;
        return big * XMath.Sqrt(1 + q * q);
    }
}

public sealed partial class GpuDevice
{
    /// <summary>The complex64 unary ops with GPU kernels (others run on the host).</summary>
    public static bool HasComplexKernel(UnaryOp op) => op is UnaryOp.Abs or UnaryOp.Real or UnaryOp.Imag or UnaryOp.Negative
        or UnaryOp.Conjugate or UnaryOp.Square or UnaryOp.Exp or UnaryOp.Log or UnaryOp.Sqrt or UnaryOp.Reciprocal;

    public static bool HasComplexKernel(BinaryOp op) => op is BinaryOp.Add or BinaryOp.Subtract or BinaryOp.Multiply or BinaryOp.Divide
        or BinaryOp.Equal or BinaryOp.NotEqual or BinaryOp.EqualNan;

    /// <summary>A complex64 binary op over <paramref name="n"/> elements, each operand contiguous or a scalar; comparisons write bools.</summary>
    public void ComplexBinary(BinaryOp op, GpuMemory a, bool aScalar, GpuMemory b, bool bScalar, GpuMemory o, long n)
    {
        if (n == 0)
        {
            return;
        }
        long sa = aScalar ? 0 : 1, sb = bScalar ? 0 : 1;
        if (op >= BinaryOp.Equal)
        {
            var c = Kernel("complex-compare", acc => acc.LoadStreamKernel<ArrayView<float>, long, ArrayView<float>, long, ArrayView<byte>, long, int>(ComplexKernels.Compare));
            c(GridFor(n), a.View<float>(), sa, b.View<float>(), sb, o.View<byte>(), n, (int)op);
            return;
        }
        var k = Kernel("complex-binary", acc => acc.LoadStreamKernel<ArrayView<float>, long, ArrayView<float>, long, ArrayView<float>, long, int>(ComplexKernels.Binary));
        k(GridFor(n), a.View<float>(), sa, b.View<float>(), sb, o.View<float>(), n, (int)op);
    }

    /// <summary>A complex64 unary op over <paramref name="n"/> contiguous elements (abs, real, imag write float32).</summary>
    public void ComplexUnary(UnaryOp op, GpuMemory x, GpuMemory o, long n)
    {
        if (n == 0)
        {
            return;
        }
        var k = Kernel("complex-unary", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, long, int>(ComplexKernels.Unary));
        k(GridFor(n), x.View<float>(), o.View<float>(), n, (int)op);
    }
}
