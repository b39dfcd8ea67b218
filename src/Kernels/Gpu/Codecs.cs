using ILGPU;

namespace Mlx.Kernels.Gpu;

/// <summary>The storage types of GPU arrays (MLX's dtypes less complex64, which stays on the CPU).</summary>
public enum GpuType
{
    Bool, UInt8, UInt16, UInt32, UInt64, Int8, Int16, Int32, Int64, Float16, BFloat16, Float32, Float64,
}

/// <summary>
/// Reads and writes one storage type in a kernel. A cast goes through double when either side is floating point,
/// else through 64-bit integers (low bits kept, as C casts do). float16 and bfloat16 are stored as their bits and
/// converted with integer arithmetic, since System.Half does not work inside ILGPU kernels.
/// </summary>
public interface ICodec<T> where T : unmanaged
{
    bool IsFloat { get; }

    double ToDouble(T x);

    long ToLong(T x);

    T FromDouble(double x);

    T FromLong(long x);
}

public struct BoolCodec : ICodec<byte>
{
    public bool IsFloat => false;
    // Not `x != 0 ? 1 : 0`: ILGPU 1.5.3 folds that select of int constants, converted to double, into a select of the
    // constants' bit patterns (PTX `selp.b64 %fd, 0d0000000000000001, ...`), so true read as 5e-324 on CUDA.
    public double ToDouble(byte x) => (double)ToLong(x);
    public long ToLong(byte x) => x != 0 ? 1 : 0;
    public byte FromDouble(double x) => x != 0 ? (byte)1 : (byte)0;
    public byte FromLong(long x) => x != 0 ? (byte)1 : (byte)0;
}

public struct U8Codec : ICodec<byte>
{
    public bool IsFloat => false;
    public double ToDouble(byte x) => x;
    public long ToLong(byte x) => x;
    public byte FromDouble(double x) => (byte)(long)x;
    public byte FromLong(long x) => (byte)x;
}

public struct U16Codec : ICodec<ushort>
{
    public bool IsFloat => false;
    public double ToDouble(ushort x) => x;
    public long ToLong(ushort x) => x;
    public ushort FromDouble(double x) => (ushort)(long)x;
    public ushort FromLong(long x) => (ushort)x;
}

public struct U32Codec : ICodec<uint>
{
    public bool IsFloat => false;
    public double ToDouble(uint x) => x;
    public long ToLong(uint x) => x;
    public uint FromDouble(double x) => (uint)(long)x;
    public uint FromLong(long x) => (uint)x;
}

public struct U64Codec : ICodec<ulong>
{
    public bool IsFloat => false;
    public double ToDouble(ulong x) => x;
    public long ToLong(ulong x) => (long)x;
    public ulong FromDouble(double x) => x >= 9223372036854775808.0 ? (ulong)(long)(x - 9223372036854775808.0) + 9223372036854775808UL : (ulong)(long)x;
    public ulong FromLong(long x) => (ulong)x;
}

public struct I8Codec : ICodec<sbyte>
{
    public bool IsFloat => false;
    public double ToDouble(sbyte x) => x;
    public long ToLong(sbyte x) => x;
    public sbyte FromDouble(double x) => (sbyte)(long)x;
    public sbyte FromLong(long x) => (sbyte)x;
}

public struct I16Codec : ICodec<short>
{
    public bool IsFloat => false;
    public double ToDouble(short x) => x;
    public long ToLong(short x) => x;
    public short FromDouble(double x) => (short)(long)x;
    public short FromLong(long x) => (short)x;
}

public struct I32Codec : ICodec<int>
{
    public bool IsFloat => false;
    public double ToDouble(int x) => x;
    public long ToLong(int x) => x;
    public int FromDouble(double x) => (int)(long)x;
    public int FromLong(long x) => (int)x;
}

public struct I64Codec : ICodec<long>
{
    public bool IsFloat => false;
    public double ToDouble(long x) => x;
    public long ToLong(long x) => x;
    public long FromDouble(double x) => (long)x;
    public long FromLong(long x) => x;
}

public struct F32Codec : ICodec<float>
{
    public bool IsFloat => true;
    public double ToDouble(float x) => x;
    public long ToLong(float x) => (long)x;
    public float FromDouble(double x) => (float)x;
    public float FromLong(long x) => x;
}

public struct F64Codec : ICodec<double>
{
    public bool IsFloat => true;
    public double ToDouble(double x) => x;
    public long ToLong(double x) => (long)x;
    public double FromDouble(double x) => x;
    public double FromLong(long x) => x;
}

public struct F16Codec : ICodec<ushort>
{
    public bool IsFloat => true;
    public double ToDouble(ushort x) => HalfBits.ToFloat(x);
    public long ToLong(ushort x) => (long)HalfBits.ToFloat(x);
    public ushort FromDouble(double x) => HalfBits.FromFloat((float)x);
    public ushort FromLong(long x) => HalfBits.FromFloat(x);
}

public struct BF16Codec : ICodec<ushort>
{
    public bool IsFloat => true;
    public double ToDouble(ushort x) => Interop.IntAsFloat((uint)x << 16);
    public long ToLong(ushort x) => (long)Interop.IntAsFloat((uint)x << 16);
    public ushort FromDouble(double x) => HalfBits.BFloat16FromFloat((float)x);
    public ushort FromLong(long x) => HalfBits.BFloat16FromFloat(x);
}

/// <summary>IEEE half and bfloat16 conversions by bit arithmetic, rounding to nearest even.</summary>
internal static class HalfBits
{
    public static float ToFloat(ushort h)
    {
        uint sign = (uint)(h & 0x8000) << 16;
        uint exp = (uint)(h >> 10) & 0x1F;
        uint mant = (uint)h & 0x3FF;
        if (exp == 0)
        {
            // Zero or subnormal: mant * 2^-24, exact in float.
            float v = mant * 5.9604644775390625e-8f;
            return sign != 0 ? -v : v;
        }
        if (exp == 31)
        {
            return Interop.IntAsFloat(sign | 0x7F800000 | (mant << 13));
        }
        return Interop.IntAsFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    public static ushort FromFloat(float f)
    {
        uint bits = Interop.FloatAsInt(f);
        uint sign = (bits >> 16) & 0x8000;
        uint a = bits & 0x7FFFFFFF;
        if (a >= 0x7F800000)
        {
            return (ushort)(sign | (a > 0x7F800000 ? 0x7E00u : 0x7C00u));
        }
        if (a >= 0x477FF000)
        {
            // 65520 and above round to infinity.
            return (ushort)(sign | 0x7C00);
        }
        if (a < 0x38800000)
        {
            // Below 2^-14: a subnormal half, round(|f| * 2^24) to even (the product is exact).
            float scaled = Interop.IntAsFloat(a) * 16777216f;
            uint whole = (uint)scaled;
            float frac = scaled - whole;
            if (frac > 0.5f || (frac == 0.5f && (whole & 1) != 0))
            {
                whole++;
            }
            return (ushort)(sign | whole);
        }
        uint t = a - 0x38000000;
        return (ushort)(sign | ((t + 0xFFF + ((t >> 13) & 1)) >> 13));
    }

    public static ushort BFloat16FromFloat(float f)
    {
        uint bits = Interop.FloatAsInt(f);
        if ((bits & 0x7FFFFFFF) > 0x7F800000)
        {
            return (ushort)((bits >> 16) | 0x40);
        }
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }
}

/// <summary>
/// Where an operand's elements are: an offset and up to 8 collapsed dimensions with strides (in elements), innermost
/// first, so that a kernel turns a linear output index into the operand's position without device-side arrays.
/// </summary>
public struct StridedLayout
{
    public const int MaxDims = 8;
    public int NDim;
    public long Start;
    public long D0, D1, D2, D3, D4, D5, D6, D7;
    public long S0, S1, S2, S3, S4, S5, S6, S7;

    /// <summary>A layout from row-major <paramref name="shape"/> and <paramref name="strides"/> (outermost first), already collapsed.</summary>
    public static StridedLayout From(long[] shape, long[] strides, long start)
    {
        if (shape.Length > MaxDims)
        {
            throw new NotSupportedException($"GPU kernels take at most {MaxDims} non-mergeable dimensions, not {shape.Length}.");
        }
        var l = new StridedLayout { NDim = shape.Length, Start = start };
        for (int k = 0; k < shape.Length; k++)
        {
            int j = shape.Length - 1 - k;
            l.Set(k, shape[j], strides[j]);
        }
        return l;
    }

    /// <summary>Whether every position this layout gives is a multiple of <paramref name="m"/> (its start and the strides of its dims longer than 1 are).</summary>
    public readonly bool Aligned(long m)
    {
        var (d, s) = (new[] { D0, D1, D2, D3, D4, D5, D6, D7 }, new[] { S0, S1, S2, S3, S4, S5, S6, S7 });
        for (int k = 0; k < NDim; k++)
        {
            if (d[k] > 1 && s[k] % m != 0)
            {
                return false;
            }
        }
        return Start % m == 0;
    }

    /// <summary>This layout over one more, innermost, dimension of <paramref name="d"/> positions <paramref name="s"/> apart.</summary>
    public readonly StridedLayout WithInnerDim(long d, long s)
    {
        if (NDim >= MaxDims)
        {
            throw new NotSupportedException($"GPU kernels take at most {MaxDims} non-mergeable dimensions.");
        }
        var (dims, strides) = (new[] { D0, D1, D2, D3, D4, D5, D6, D7 }, new[] { S0, S1, S2, S3, S4, S5, S6, S7 });
        var l = new StridedLayout { NDim = NDim + 1, Start = Start };
        l.Set(0, d, s);
        for (int k = 0; k < NDim; k++)
        {
            l.Set(k + 1, dims[k], strides[k]);
        }
        return l;
    }

    private void Set(int k, long d, long s)
    {
        switch (k)
        {
            case 0: D0 = d; S0 = s; break;
            case 1: D1 = d; S1 = s; break;
            case 2: D2 = d; S2 = s; break;
            case 3: D3 = d; S3 = s; break;
            case 4: D4 = d; S4 = s; break;
            case 5: D5 = d; S5 = s; break;
            case 6: D6 = d; S6 = s; break;
            default: D7 = d; S7 = s; break;
        }
    }

    public readonly long Offset(long i)
    {
        // Nested, not sequential, ifs: ILGPU's if-conversion turns each small `if` into selects, which would run all
        // eight 64-bit divisions for every element whatever NDim is (a contiguous sum ran at 54 GB/s on an H200).
        if (NDim <= 1)
        {
            return NDim == 0 ? Start : Start + i * S0;
        }
        long q = i / D0;
        long off = Start + (i - q * D0) * S0;
        i = q;
        if (NDim > 2)
        {
            q = i / D1;
            off += (i - q * D1) * S1;
            i = q;
            if (NDim > 3)
            {
                q = i / D2;
                off += (i - q * D2) * S2;
                i = q;
                if (NDim > 4)
                {
                    q = i / D3;
                    off += (i - q * D3) * S3;
                    i = q;
                    if (NDim > 5)
                    {
                        q = i / D4;
                        off += (i - q * D4) * S4;
                        i = q;
                        if (NDim > 6)
                        {
                            q = i / D5;
                            off += (i - q * D5) * S5;
                            i = q;
                            if (NDim > 7)
                            {
                                q = i / D6;
                                off += (i - q * D6) * S6;
                                i = q;
                                return off + i * S7;
                            }
                            return off + i * S6;
                        }
                        return off + i * S5;
                    }
                    return off + i * S4;
                }
                return off + i * S3;
            }
            return off + i * S2;
        }
        return off + i * S1;
    }
}
