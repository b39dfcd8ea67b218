using System.Numerics;

namespace Mlx;

/// <summary>Calls a generic kernel with the CLR type of a dtype: one switch here instead of one per op.</summary>
internal interface IFloatVisitor
{
    void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T>;
}

internal interface IIntVisitor
{
    void Visit<T>() where T : unmanaged, IBinaryInteger<T>, IMinMaxValue<T>;
}

internal static class Dispatch
{
    public static bool IsComputeFloat(DType t) => t is DType.Float32 or DType.Float64;

    public static void Float<TV>(DType t, ref TV v) where TV : struct, IFloatVisitor
    {
        switch (t)
        {
            case DType.Float32: v.Visit<float>(); break;
            case DType.Float64: v.Visit<double>(); break;
            default: throw new NotSupportedException($"No float kernel for {t.Name()}.");
        }
    }

    public static void Int<TV>(DType t, ref TV v) where TV : struct, IIntVisitor
    {
        switch (t)
        {
            case DType.Bool or DType.UInt8: v.Visit<byte>(); break;
            case DType.UInt16: v.Visit<ushort>(); break;
            case DType.UInt32: v.Visit<uint>(); break;
            case DType.UInt64: v.Visit<ulong>(); break;
            case DType.Int8: v.Visit<sbyte>(); break;
            case DType.Int16: v.Visit<short>(); break;
            case DType.Int32: v.Visit<int>(); break;
            case DType.Int64: v.Visit<long>(); break;
            default: throw new NotSupportedException($"No integer kernel for {t.Name()}.");
        }
    }

    /// <summary>
    /// Float16 and BFloat16 compute in float32: converts the inputs to float32 arrays, runs <paramref name="compute"/>
    /// on them into float32 outputs, and converts those back into <paramref name="outputs"/>.
    /// </summary>
    public static void ViaFloat32(MxArray[] inputs, MxArray[] outputs, Action<MxArray[], MxArray[]> compute)
    {
        var wideIn = inputs.Select(x => x.DType is DType.Float16 or DType.BFloat16 ? Cast.MaterializeKeepingLayout(x, DType.Float32) : x).ToArray();
        var wideOut = outputs.Select(o => o.DType is DType.Float16 or DType.BFloat16
            ? new MxArray(o.ShapeRef, DType.Float32, Allocator.Allocate(o.Size * 4), MxArray.RowMajorStrides(o.ShapeRef), 0)
            : o).ToArray();
        compute(wideIn, wideOut);
        for (int i = 0; i < outputs.Length; i++)
        {
            if (!ReferenceEquals(wideOut[i], outputs[i]))
            {
                outputs[i].AllocateData();
                Cast.Run(wideOut[i], outputs[i]);
                wideOut[i].Buffer.Release();
            }
        }
        for (int i = 0; i < inputs.Length; i++)
        {
            if (!ReferenceEquals(wideIn[i], inputs[i]))
            {
                wideIn[i].Buffer.Release();
            }
        }
    }
}
