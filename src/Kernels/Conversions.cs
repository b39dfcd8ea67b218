using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Mlx.Kernels;

/// <summary>
/// float32 to and from the 16-bit float types over contiguous memory, vectorized and split across cores: half-type
/// matmuls and convolutions compute in float32, so these run over whole weight matrices on every call.
/// </summary>
public static unsafe class Conversions
{
    // float16 both ways with our own vector code, not TensorPrimitives': its conversions ran 0.8 to 4.6 ms for 4M
    // values from one process to the next here (the JIT's tiering deciding; the slow case whenever tiered
    // compilation is off, as the CLI runs), these at a steady speed. Bit-exact against System.Half (tested).
    public static void HalfToSingle(Half* src, float* dst, long n) => Chunks(n, (s, e) =>
    {
        long i = s;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= e; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load((ushort*)src + i));
                WidenHalf(lo).Store(dst + i);
                WidenHalf(hi).Store(dst + i + 8);
            }
        }
        for (; i < e; i++) dst[i] = (float)src[i];
    });

    public static void SingleToHalf(float* src, Half* dst, long n) => Chunks(n, (s, e) =>
    {
        long i = s;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= e; i += 16)
            {
                var a = NarrowToHalf(Vector256.Load((uint*)src + i));
                var b = NarrowToHalf(Vector256.Load((uint*)src + i + 8));
                Vector256.Narrow(a, b).Store((ushort*)dst + i);
            }
        }
        for (; i < e; i++) dst[i] = (Half)src[i];
    });

    /// <summary>
    /// Eight float32 bit patterns as float16 bits (in the low 16 bits of each lane), rounded to nearest even as
    /// System.Half does: normal results by rebiasing the exponent and rounding the 13 dropped bits; results below
    /// the smallest normal by adding 0.5 as a float (the sum's last bit is then the subnormal's, and the hardware
    /// rounds it); 65520 and above to infinity; a NaN stays a quiet NaN with its sign and top payload bits.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal static Vector256<uint> NarrowToHalf(Vector256<uint> f)
    {
        var sign = Vector256.ShiftRightLogical(f & Vector256.Create(0x8000_0000u), 16);
        var a = f & Vector256.Create(0x7FFF_FFFFu);
        // Normal: exponent 127 -> 15 bias, + 0xFFF + the lowest kept bit (ties to even), keep the top bits.
        var normal = Vector256.ShiftRightLogical(a - Vector256.Create(0x3800_0000u - 0x0FFFu) + (Vector256.ShiftRightLogical(a, 13) & Vector256<uint>.One), 13);
        normal = Vector256.Min(normal, Vector256.Create(0x7C00u)); // 65520 and above: infinity
        var magic = Vector256.Create(0x3F00_0000u); // 0.5f: its ulp is float16's smallest subnormal, 2^-24
        var subnormal = (a.AsSingle() + magic.AsSingle()).AsUInt32() - magic;
        var finite = Vector256.ConditionalSelect(Vector256.LessThan(a, Vector256.Create(0x3880_0000u)), subnormal, normal);
        var nan = Vector256.Create(0x7E00u) | (Vector256.ShiftRightLogical(a, 13) & Vector256.Create(0x03FFu));
        var inf = Vector256.Create(0x7C00u);
        var special = Vector256.ConditionalSelect(Vector256.GreaterThan(a, Vector256.Create(0x7F80_0000u)), nan, inf);
        return Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(a, Vector256.Create(0x7F80_0000u)), special, finite) | sign;
    }

    /// <summary>
    /// Eight float16 values (one per 32-bit lane, upper bits zero) as float32, in registers, for kernels that widen
    /// as they compute (Gemm.Gemv16): the 15 magnitude bits moved into a float32's place and scaled by 2^112 rebias
    /// the exponent and normalize subnormals exactly; infinities and NaNs (exponent 31) get the all-ones exponent.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> WidenHalf(Vector256<uint> h)
    {
        var expMask = Vector256.Create(0x7C00u);
        var shifted = Vector256.ShiftLeft(h & Vector256.Create(0x7FFFu), 13);
        var finite = (shifted.AsSingle() * Vector256.Create(BitConverter.UInt32BitsToSingle(0x7780_0000u))).AsUInt32(); // * 2^112
        var special = Vector256.Equals(h & expMask, expMask);
        // A NaN comes out quiet, as System.Half converts it.
        var quiet = Vector256.AndNot(Vector256.Create(0x0040_0000u), Vector256.Equals(h & Vector256.Create(0x03FFu), Vector256<uint>.Zero));
        var bits = Vector256.ConditionalSelect(special, shifted | Vector256.Create(0x7F80_0000u) | quiet, finite);
        return (bits | Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16)).AsSingle();
    }

    /// <summary>bfloat16 is the upper half of a float32: widen and shift.</summary>
    public static void BFloat16ToSingle(ushort* src, float* dst, long n) => Chunks(n, (s, e) => BFloat16ToSingle(src, dst, s, e));

    /// <summary>dst[s..e) from src[s..e) on the calling thread.</summary>
    internal static void BFloat16ToSingle(ushort* src, float* dst, long s, long e)
    {
        long i = s;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= e; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(src + i));
                Vector256.ShiftLeft(lo, 16).AsSingle().Store(dst + i);
                Vector256.ShiftLeft(hi, 16).AsSingle().Store(dst + i + 8);
            }
        }
        for (; i < e; i++)
        {
            dst[i] = BitConverter.UInt32BitsToSingle((uint)src[i] << 16);
        }
    }

    /// <summary>Round to nearest even; every NaN becomes the quiet NaN 0x7FC0 (as <see cref="BFloat16"/>'s conversion).</summary>
    public static void SingleToBFloat16(float* src, ushort* dst, long n) => Chunks(n, (s, e) =>
    {
        long i = s;
        if (Vector256.IsHardwareAccelerated)
        {
            var one = Vector256.Create(1u);
            var half = Vector256.Create(0x7FFFu);
            var absMask = Vector256.Create(0x7FFF_FFFFu);
            var inf = Vector256.Create(0x7F80_0000u);
            var quietNaN = Vector256.Create(0x7FC0u);
            for (; i + 16 <= e; i += 16)
            {
                var a = Vector256.Load((uint*)src + i);
                var b = Vector256.Load((uint*)src + i + 8);
                var ra = Vector256.ConditionalSelect(Vector256.GreaterThan(a & absMask, inf), quietNaN, Vector256.ShiftRightLogical(a + (Vector256.ShiftRightLogical(a, 16) & one) + half, 16));
                var rb = Vector256.ConditionalSelect(Vector256.GreaterThan(b & absMask, inf), quietNaN, Vector256.ShiftRightLogical(b + (Vector256.ShiftRightLogical(b, 16) & one) + half, 16));
                Vector256.Narrow(ra, rb).Store(dst + i);
            }
        }
        for (; i < e; i++)
        {
            dst[i] = ((BFloat16)src[i]).Bits;
        }
    });

    private static void Chunks(long n, Action<long, long> body) => Parallelism.For(n, 2, body);
}
