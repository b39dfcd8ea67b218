using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Mlx.Kernels;

/// <summary>
/// float32 to and from the 16-bit float types over contiguous memory, vectorized and split across cores: half-type
/// matmuls and convolutions compute in float32, so these run over whole weight matrices on every call, and every
/// elementwise op on a 16-bit array widens and narrows its tiles through them.
/// </summary>
public static unsafe class Conversions
{
    // float16 both ways with our own vector code, not TensorPrimitives': its conversions ran 0.8 to 4.6 ms for 4M
    // values from one process to the next here (the JIT's tiering deciding; the slow case whenever tiered
    // compilation is off, as the CLI runs), these at a steady speed. Bit-exact against System.Half (tested).
    // .NET exposes no F16C/AVX-512 half conversion instruction, so both directions are integer and float arithmetic.

    /// <summary>n float16 values widened; <paramref name="parallel"/> false keeps it on the calling thread (for tiles).</summary>
    public static void HalfToSingle(Half* src, float* dst, long n, bool parallel = true) => Widen((ushort*)src, dst, n, bfloat16: false, parallel);

    /// <summary>n float32 values rounded to float16; <paramref name="parallel"/> false keeps it on the calling thread.</summary>
    public static void SingleToHalf(float* src, Half* dst, long n, bool parallel = true) => Narrow((uint*)src, (ushort*)dst, n, bfloat16: false, parallel);

    /// <summary>bfloat16 is the upper half of a float32: widen and shift.</summary>
    public static void BFloat16ToSingle(ushort* src, float* dst, long n, bool parallel = true) => Widen(src, dst, n, bfloat16: true, parallel);

    /// <summary>Round to nearest even; every NaN becomes the quiet NaN 0x7FC0 (as <see cref="BFloat16"/>'s conversion).</summary>
    public static void SingleToBFloat16(float* src, ushort* dst, long n, bool parallel = true) => Narrow((uint*)src, dst, n, bfloat16: true, parallel);

    private static void Widen(ushort* src, float* dst, long n, bool bfloat16, bool parallel)
    {
        if (parallel) Chunks(n, (s, e) => Widen(src, dst, s, e, bfloat16));
        else Widen(src, dst, 0, n, bfloat16);
    }

    private static void Narrow(uint* src, ushort* dst, long n, bool bfloat16, bool parallel)
    {
        if (parallel) Chunks(n, (s, e) => Narrow(src, dst, s, e, bfloat16));
        else Narrow(src, dst, 0, n, bfloat16);
    }

    // dst[s..e) from src[s..e) on the calling thread: 32 values at a time with AVX-512, 16 with AVX2, then one by one.
    private static void Widen(ushort* src, float* dst, long s, long e, bool bfloat16)
    {
        long i = s;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 32 <= e; i += 32)
            {
                var (lo, hi) = Widen32(Vector512.Load(src + i), bfloat16);
                lo.Store(dst + i);
                hi.Store(dst + i + 16);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= e; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(src + i));
                (bfloat16 ? Vector256.ShiftLeft(lo, 16).AsSingle() : WidenHalf(lo)).Store(dst + i);
                (bfloat16 ? Vector256.ShiftLeft(hi, 16).AsSingle() : WidenHalf(hi)).Store(dst + i + 8);
            }
        }
        for (; i < e; i++)
        {
            dst[i] = bfloat16 ? BitConverter.UInt32BitsToSingle((uint)src[i] << 16) : (float)BitConverter.UInt16BitsToHalf(src[i]);
        }
    }

    private static void Narrow(uint* src, ushort* dst, long s, long e, bool bfloat16)
    {
        long i = s;
        if (Vector512.IsHardwareAccelerated)
        {
            // The type as a constant in each loop: a flag tested per block cost float16 5-15%.
            if (bfloat16)
            {
                for (; i + 32 <= e; i += 32) Vector512.Narrow(Narrow16(Vector512.Load(src + i), true), Narrow16(Vector512.Load(src + i + 16), true)).Store(dst + i);
            }
            else
            {
                for (; i + 32 <= e; i += 32) Vector512.Narrow(Narrow16(Vector512.Load(src + i), false), Narrow16(Vector512.Load(src + i + 16), false)).Store(dst + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= e; i += 16)
            {
                var a = Vector256.Load(src + i);
                var b = Vector256.Load(src + i + 8);
                Vector256.Narrow(bfloat16 ? NarrowToBFloat16(a) : NarrowToHalf(a), bfloat16 ? NarrowToBFloat16(b) : NarrowToHalf(b)).Store(dst + i);
            }
        }
        for (; i < e; i++)
        {
            float f = BitConverter.UInt32BitsToSingle(src[i]);
            dst[i] = bfloat16 ? ((BFloat16)f).Bits : BitConverter.HalfToUInt16Bits((Half)f);
        }
    }

    /// <summary>
    /// Thirty-two float16 or bfloat16 values as float32 (the first sixteen, the last sixteen), for the conversions and
    /// the kernels that widen as they compute (the 16-bit GEMV and arithmetic): a bfloat16 is its float32's upper
    /// half; a float16 block without infinities or NaNs (almost every block) takes <see cref="WidenFiniteHalf"/>,
    /// four operations per sixteen values, and a block holding any takes the full conversion.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (Vector512<float> Lo, Vector512<float> Hi) Widen32(Vector512<ushort> h, bool bfloat16)
    {
        if (bfloat16)
        {
            var (b0, b1) = Vector512.Widen(h);
            return (Vector512.ShiftLeft(b0, 16).AsSingle(), Vector512.ShiftLeft(b1, 16).AsSingle());
        }
        var expMask = Vector512.Create((ushort)0x7C00);
        if (!Vector512.EqualsAny(h & expMask, expMask))
        {
            var (f0, f1) = Vector512.Widen(h.AsInt16());
            return (WidenFiniteHalf(f0), WidenFiniteHalf(f1));
        }
        var (lo, hi) = Vector512.Widen(h);
        return (WidenHalf(lo), WidenHalf(hi));
    }

    /// <summary>
    /// Sixteen float32 bit patterns rounded to float16 or bfloat16 bits (in the low 16 bits of each lane); a float16
    /// block without NaNs skips the NaN selects (<see cref="NarrowNumberToHalf"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<uint> Narrow16(Vector512<uint> f, bool bfloat16)
    {
        if (bfloat16) return NarrowToBFloat16(f);
        return Vector512.GreaterThanAny(f & Vector512.Create(0x7FFF_FFFFu), Vector512.Create(0x7F80_0000u))
            ? NarrowToHalf(f)
            : NarrowNumberToHalf(f);
    }

    /// <summary>
    /// Eight float32 bit patterns as float16 bits (in the low 16 bits of each lane), rounded to nearest even as
    /// System.Half does: normal results by rebiasing the exponent and rounding the 13 dropped bits; results below
    /// the smallest normal by adding 0.5 as a float (the sum's last bit is then the subnormal's, and the hardware
    /// rounds it); 65520 and above to infinity; a NaN stays a quiet NaN with its sign and top payload bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
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

    /// <summary>Sixteen lanes of <see cref="NarrowToHalf(Vector256{uint})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> NarrowToHalf(Vector512<uint> f)
    {
        var sign = Vector512.ShiftRightLogical(f & Vector512.Create(0x8000_0000u), 16);
        var a = f & Vector512.Create(0x7FFF_FFFFu);
        var normal = Vector512.ShiftRightLogical(a - Vector512.Create(0x3800_0000u - 0x0FFFu) + (Vector512.ShiftRightLogical(a, 13) & Vector512<uint>.One), 13);
        normal = Vector512.Min(normal, Vector512.Create(0x7C00u));
        var magic = Vector512.Create(0x3F00_0000u);
        var subnormal = (a.AsSingle() + magic.AsSingle()).AsUInt32() - magic;
        var finite = Vector512.ConditionalSelect(Vector512.LessThan(a, Vector512.Create(0x3880_0000u)), subnormal, normal);
        var nan = Vector512.Create(0x7E00u) | (Vector512.ShiftRightLogical(a, 13) & Vector512.Create(0x03FFu));
        var special = Vector512.ConditionalSelect(Vector512.GreaterThan(a, Vector512.Create(0x7F80_0000u)), nan, Vector512.Create(0x7C00u));
        return Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(a, Vector512.Create(0x7F80_0000u)), special, finite) | sign;
    }

    /// <summary><see cref="NarrowToHalf(Vector512{uint})"/> for lanes known not to be NaN (infinities are fine).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> NarrowNumberToHalf(Vector512<uint> f)
    {
        var a = f & Vector512.Create(0x7FFF_FFFFu);
        var normal = Vector512.ShiftRightLogical(a - Vector512.Create(0x3800_0000u - 0x0FFFu) + (Vector512.ShiftRightLogical(a, 13) & Vector512<uint>.One), 13);
        normal = Vector512.Min(normal, Vector512.Create(0x7C00u)); // 65520 and above, infinity included
        var magic = Vector512.Create(0x3F00_0000u);
        var subnormal = (a.AsSingle() + magic.AsSingle()).AsUInt32() - magic;
        var finite = Vector512.ConditionalSelect(Vector512.LessThan(a, Vector512.Create(0x3880_0000u)), subnormal, normal);
        return finite | Vector512.ShiftRightLogical(f ^ a, 16);
    }

    /// <summary>
    /// Eight float16 values (one per 32-bit lane, upper bits zero) as float32, in registers, for kernels that widen
    /// as they compute (Gemm.Gemv16): the 15 magnitude bits moved into a float32's place and scaled by 2^112 rebias
    /// the exponent and normalize subnormals exactly; infinities and NaNs (exponent 31) get the all-ones exponent.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
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

    /// <summary>Sixteen lanes of <see cref="WidenHalf(Vector256{uint})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> WidenHalf(Vector512<uint> h)
    {
        var expMask = Vector512.Create(0x7C00u);
        var shifted = Vector512.ShiftLeft(h & Vector512.Create(0x7FFFu), 13);
        var finite = (shifted.AsSingle() * Vector512.Create(BitConverter.UInt32BitsToSingle(0x7780_0000u))).AsUInt32();
        var special = Vector512.Equals(h & expMask, expMask);
        var quiet = Vector512.AndNot(Vector512.Create(0x0040_0000u), Vector512.Equals(h & Vector512.Create(0x03FFu), Vector512<uint>.Zero));
        var bits = Vector512.ConditionalSelect(special, shifted | Vector512.Create(0x7F80_0000u) | quiet, finite);
        return (bits | Vector512.ShiftLeft(h & Vector512.Create(0x8000u), 16)).AsSingle();
    }

    /// <summary>
    /// Sixteen finite float16 values, sign-extended into 32-bit lanes, as float32: shifted left by 13 the sign
    /// lands in bit 31 (its copies above the value are masked off) and the 15 magnitude bits in a float32's place;
    /// the product by 2^112 rebiases the exponent and normalizes subnormals exactly, keeping the sign.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> WidenFiniteHalf(Vector512<int> h) =>
        (Vector512.ShiftLeft(h, 13) & Vector512.Create(unchecked((int)0x8FFF_E000u))).AsSingle() * Vector512.Create(BitConverter.UInt32BitsToSingle(0x7780_0000u));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> NarrowToBFloat16(Vector256<uint> a)
    {
        var rounded = Vector256.ShiftRightLogical(a + (Vector256.ShiftRightLogical(a, 16) & Vector256<uint>.One) + Vector256.Create(0x7FFFu), 16);
        return Vector256.ConditionalSelect(Vector256.GreaterThan(a & Vector256.Create(0x7FFF_FFFFu), Vector256.Create(0x7F80_0000u)), Vector256.Create(0x7FC0u), rounded);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> NarrowToBFloat16(Vector512<uint> a)
    {
        var rounded = Vector512.ShiftRightLogical(a + (Vector512.ShiftRightLogical(a, 16) & Vector512<uint>.One) + Vector512.Create(0x7FFFu), 16);
        return Vector512.ConditionalSelect(Vector512.GreaterThan(a & Vector512.Create(0x7FFF_FFFFu), Vector512.Create(0x7F80_0000u)), Vector512.Create(0x7FC0u), rounded);
    }

    private static void Chunks(long n, Action<long, long> body) => Parallelism.For(n, 2, body);
}
