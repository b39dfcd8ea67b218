namespace Mlx.Backends.Tests;

/// <summary>What the suites' scalar references need of MLX's integer dtypes.</summary>
internal static class IntegerTypes
{
    public static bool Signed(DType t) => t is DType.Int8 or DType.Int16 or DType.Int32 or DType.Int64;

    /// <summary><paramref name="v"/> wrapped to <paramref name="t"/>'s width, as C casts (and the kernels) wrap it; bools 0 or 1.</summary>
    public static long Wrap(long v, DType t) => t switch
    {
        DType.Bool => v != 0 ? 1 : 0,
        DType.Int8 => (sbyte)v,
        DType.Int16 => (short)v,
        DType.Int32 => (int)v,
        DType.UInt8 => (byte)v,
        DType.UInt16 => (ushort)v,
        DType.UInt32 => (uint)v,
        _ => v,
    };
}
