namespace Mlx.Formats;

/// <summary>Element types a tensor can be converted to (the dtypes MLX arrays use).</summary>
public enum TensorDType
{
    /// <summary>1-byte boolean (0 or 1).</summary>
    Bool,

    /// <summary>Unsigned 8-bit integer.</summary>
    UInt8,

    /// <summary>Unsigned 16-bit integer.</summary>
    UInt16,

    /// <summary>Unsigned 32-bit integer.</summary>
    UInt32,

    /// <summary>Unsigned 64-bit integer.</summary>
    UInt64,

    /// <summary>Signed 8-bit integer.</summary>
    Int8,

    /// <summary>Signed 16-bit integer.</summary>
    Int16,

    /// <summary>Signed 32-bit integer.</summary>
    Int32,

    /// <summary>Signed 64-bit integer.</summary>
    Int64,

    /// <summary>IEEE half precision.</summary>
    Float16,

    /// <summary>IEEE single precision.</summary>
    Float32,

    /// <summary>IEEE double precision.</summary>
    Float64,

    /// <summary>bfloat16 (upper half of a float32).</summary>
    BFloat16,

    /// <summary>Two float32 values, real then imaginary.</summary>
    Complex64,
}

/// <summary>Helpers for <see cref="TensorDType"/>.</summary>
public static class TensorDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int ItemSize(this TensorDType dtype) => dtype switch
    {
        TensorDType.Bool or TensorDType.UInt8 or TensorDType.Int8 => 1,
        TensorDType.UInt16 or TensorDType.Int16 or TensorDType.Float16 or TensorDType.BFloat16 => 2,
        TensorDType.UInt32 or TensorDType.Int32 or TensorDType.Float32 => 4,
        TensorDType.UInt64 or TensorDType.Int64 or TensorDType.Float64 or TensorDType.Complex64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    /// <summary>
    /// Size of the unit that is byte-swapped when converting endianness: the item size, except
    /// complex64 whose two float32 halves are swapped separately.
    /// </summary>
    public static int SwapUnit(this TensorDType dtype) => dtype == TensorDType.Complex64 ? 4 : dtype.ItemSize();

    /// <summary>The MLX dtype name: bool, uint8, ..., float16, bfloat16, float32, float64, complex64.</summary>
    public static string MlxName(this TensorDType dtype) => dtype switch
    {
        TensorDType.Bool => "bool",
        TensorDType.UInt8 => "uint8",
        TensorDType.UInt16 => "uint16",
        TensorDType.UInt32 => "uint32",
        TensorDType.UInt64 => "uint64",
        TensorDType.Int8 => "int8",
        TensorDType.Int16 => "int16",
        TensorDType.Int32 => "int32",
        TensorDType.Int64 => "int64",
        TensorDType.Float16 => "float16",
        TensorDType.Float32 => "float32",
        TensorDType.Float64 => "float64",
        TensorDType.BFloat16 => "bfloat16",
        TensorDType.Complex64 => "complex64",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    /// <summary>Parses an MLX dtype name; false when unknown.</summary>
    public static bool TryParseMlxName(string name, out TensorDType dtype)
    {
        foreach (TensorDType candidate in Enum.GetValues<TensorDType>())
        {
            if (candidate.MlxName() == name)
            {
                dtype = candidate;
                return true;
            }
        }
        dtype = default;
        return false;
    }

    /// <summary>The safetensors dtype string (BOOL, U8, ..., BF16, C64).</summary>
    public static string SafetensorsName(this TensorDType dtype) => dtype switch
    {
        TensorDType.Bool => "BOOL",
        TensorDType.UInt8 => "U8",
        TensorDType.UInt16 => "U16",
        TensorDType.UInt32 => "U32",
        TensorDType.UInt64 => "U64",
        TensorDType.Int8 => "I8",
        TensorDType.Int16 => "I16",
        TensorDType.Int32 => "I32",
        TensorDType.Int64 => "I64",
        TensorDType.Float16 => "F16",
        TensorDType.Float32 => "F32",
        TensorDType.Float64 => "F64",
        TensorDType.BFloat16 => "BF16",
        TensorDType.Complex64 => "C64",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };
}
