namespace Mlx;

/// <summary>The 14 element types of MLX, in MLX's order (the order indexes the promotion table).</summary>
public enum DType : byte
{
    Bool, UInt8, UInt16, UInt32, UInt64, Int8, Int16, Int32, Int64, Float16, Float32, Float64, BFloat16, Complex64,
}

/// <summary>Facts about dtypes: sizes, kinds, MLX names and the promotion table of mlx/dtype.cpp.</summary>
public static class DTypes
{
    private static readonly int[] s_sizes = { 1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 2, 8 };

    private static readonly string[] s_names =
    {
        "bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
        "float16", "float32", "float64", "bfloat16", "complex64",
    };

    // JAX-style lattice as MLX encodes it: row = left operand, column = right operand.
    private static readonly DType[,] s_promotion = BuildPromotion();

    public static int Size(this DType t) => s_sizes[(int)t];

    public static string Name(this DType t) => s_names[(int)t];

    public static bool IsFloating(this DType t) => t is DType.Float16 or DType.Float32 or DType.Float64 or DType.BFloat16;

    public static bool IsComplex(this DType t) => t == DType.Complex64;

    /// <summary>Floating or complex: the dtypes MLX calls inexact.</summary>
    public static bool IsInexact(this DType t) => t.IsFloating() || t.IsComplex();

    public static bool IsInteger(this DType t) => t is >= DType.UInt8 and <= DType.Int64;

    public static bool IsSignedInteger(this DType t) => t is >= DType.Int8 and <= DType.Int64;

    public static bool IsUnsignedInteger(this DType t) => t is >= DType.UInt8 and <= DType.UInt64;

    /// <summary>The result dtype of a binary op on arrays of dtypes <paramref name="a"/> and <paramref name="b"/>.</summary>
    public static DType Promote(DType a, DType b) => s_promotion[(int)a, (int)b];

    public static DType Parse(string name)
    {
        int i = Array.IndexOf(s_names, name);
        if (i < 0)
        {
            throw new ArgumentException($"Unknown dtype '{name}'.", nameof(name));
        }
        return (DType)i;
    }

    /// <summary>The dtype that a CLR element type maps to.</summary>
    public static DType Of<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(bool)) return DType.Bool;
        if (typeof(T) == typeof(byte)) return DType.UInt8;
        if (typeof(T) == typeof(ushort)) return DType.UInt16;
        if (typeof(T) == typeof(uint)) return DType.UInt32;
        if (typeof(T) == typeof(ulong)) return DType.UInt64;
        if (typeof(T) == typeof(sbyte)) return DType.Int8;
        if (typeof(T) == typeof(short)) return DType.Int16;
        if (typeof(T) == typeof(int)) return DType.Int32;
        if (typeof(T) == typeof(long)) return DType.Int64;
        if (typeof(T) == typeof(Half)) return DType.Float16;
        if (typeof(T) == typeof(float)) return DType.Float32;
        if (typeof(T) == typeof(double)) return DType.Float64;
        if (typeof(T) == typeof(BFloat16)) return DType.BFloat16;
        if (typeof(T) == typeof(Complex64)) return DType.Complex64;
        throw new NotSupportedException($"{typeof(T).Name} is not an MLX element type.");
    }

    private static DType[,] BuildPromotion()
    {
        const DType b = DType.Bool, u8 = DType.UInt8, u16 = DType.UInt16, u32 = DType.UInt32, u64 = DType.UInt64,
            i8 = DType.Int8, i16 = DType.Int16, i32 = DType.Int32, i64 = DType.Int64, f16 = DType.Float16,
            f32 = DType.Float32, f64 = DType.Float64, bf = DType.BFloat16, c64 = DType.Complex64;
        DType[][] rows =
        {
            new[] { b, u8, u16, u32, u64, i8, i16, i32, i64, f16, f32, f64, bf, c64 },
            new[] { u8, u8, u16, u32, u64, i16, i16, i32, i64, f16, f32, f64, bf, c64 },
            new[] { u16, u16, u16, u32, u64, i32, i32, i32, i64, f16, f32, f64, bf, c64 },
            new[] { u32, u32, u32, u32, u64, i64, i64, i64, i64, f16, f32, f64, bf, c64 },
            new[] { u64, u64, u64, u64, u64, f32, f32, f32, f32, f16, f32, f64, bf, c64 },
            new[] { i8, i16, i32, i64, f32, i8, i16, i32, i64, f16, f32, f64, bf, c64 },
            new[] { i16, i16, i32, i64, f32, i16, i16, i32, i64, f16, f32, f64, bf, c64 },
            new[] { i32, i32, i32, i64, f32, i32, i32, i32, i64, f16, f32, f64, bf, c64 },
            new[] { i64, i64, i64, i64, f32, i64, i64, i64, i64, f16, f32, f64, bf, c64 },
            new[] { f16, f16, f16, f16, f16, f16, f16, f16, f16, f16, f32, f64, f32, c64 },
            new[] { f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f64, f32, c64 },
            new[] { f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, c64 },
            new[] { bf, bf, bf, bf, bf, bf, bf, bf, bf, f32, f32, f64, bf, c64 },
            new[] { c64, c64, c64, c64, c64, c64, c64, c64, c64, c64, c64, c64, c64, c64 },
        };
        var table = new DType[14, 14];
        for (int i = 0; i < 14; i++)
        {
            for (int j = 0; j < 14; j++)
            {
                table[i, j] = rows[i][j];
            }
        }
        return table;
    }
}
