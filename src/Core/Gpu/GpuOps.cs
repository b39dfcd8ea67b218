using Mlx.Kernels.Gpu;

namespace Mlx;

/// <summary>Shared steps of the primitives' GPU kernels: dtype mapping and operand preparation.</summary>
internal static class GpuOps
{
    public static GpuType TypeOf(DType t) => t switch
    {
        DType.Bool => GpuType.Bool,
        DType.UInt8 => GpuType.UInt8,
        DType.UInt16 => GpuType.UInt16,
        DType.UInt32 => GpuType.UInt32,
        DType.UInt64 => GpuType.UInt64,
        DType.Int8 => GpuType.Int8,
        DType.Int16 => GpuType.Int16,
        DType.Int32 => GpuType.Int32,
        DType.Int64 => GpuType.Int64,
        DType.Float16 => GpuType.Float16,
        DType.BFloat16 => GpuType.BFloat16,
        DType.Float32 => GpuType.Float32,
        DType.Float64 => GpuType.Float64,
        _ => throw new NotSupportedException($"{t.Name()} arrays have no GPU kernels."),
    };

    /// <summary>An unsigned type of <paramref name="itemSize"/> bytes, for moving elements of any dtype (complex64 too) as bits.</summary>
    public static GpuType BitsType(int itemSize) => itemSize switch
    {
        1 => GpuType.UInt8,
        2 => GpuType.UInt16,
        4 => GpuType.UInt32,
        _ => GpuType.UInt64,
    };

    private static GpuType CopyType(DType t) => t == DType.Complex64 ? BitsType(8) : TypeOf(t);

    /// <summary>
    /// Whether GPU kernels handle <paramref name="t"/> (complex64 runs on the host); float64 on a device without it is
    /// an error, as in MLX.
    /// </summary>
    public static bool Supports(DType t)
    {
        if (t == DType.Float64 && !GpuRuntime.Device.SupportsFloat64)
        {
            throw new NotSupportedException($"float64 is not supported on this GPU ({GpuRuntime.Device.Name}); use Device.Cpu for float64 arrays.");
        }
        return t != DType.Complex64;
    }

    /// <summary>The type elementwise kernels compute in: half types in float32, narrow integers and bools in 32 bits.</summary>
    public static DType ComputeType(DType t) => t switch
    {
        DType.Float16 or DType.BFloat16 => DType.Float32,
        DType.Int8 or DType.Int16 => DType.Int32,
        DType.Bool or DType.UInt8 or DType.UInt16 => DType.UInt32,
        _ => t,
    };

    /// <summary>
    /// <paramref name="a"/> as contiguous <paramref name="type"/> data in device memory: its own memory when it already
    /// is, else a converted copy (gathering strides and broadcasts) in scratch memory the caller frees.
    /// <c>Scalar</c>: every element is the same (a 0-d or fully broadcast operand), stored once.
    /// </summary>
    public static (GpuMemory Memory, bool Scalar, bool Scratch) Operand(MxArray a, DType type, bool allowScalar = true)
    {
        var device = GpuRuntime.Device;
        bool scalar = allowScalar && (a.Size <= 1 || Array.TrueForAll(a.Strides, s => s == 0));
        var memory = GpuRuntime.Memory(a);
        if (a.Offset == 0 && a.DType == type && (scalar || a.IsRowContiguous))
        {
            return (memory, scalar, false);
        }
        var shape = scalar ? Array.Empty<int>() : a.ShapeRef;
        var strides = scalar ? Array.Empty<long>() : a.Strides;
        long n = scalar ? 1 : a.Size;
        var copy = GpuRuntime.Scratch(n * type.Size());
        // complex64 moves as 8-byte bits (there is no conversion to or from it on the GPU).
        device.Copy(CopyType(a.DType), new GpuOperand(memory, a.Offset, shape, strides), CopyType(type), copy);
        return (copy, scalar, true);
    }

    /// <summary>Contiguous <paramref name="from"/> data converted into new scratch memory of <paramref name="to"/>.</summary>
    public static GpuMemory Convert(GpuMemory source, int[] shape, DType from, DType to)
    {
        long n = 1;
        foreach (int d in shape)
        {
            n *= d;
        }
        var copy = GpuRuntime.Scratch(n * to.Size());
        GpuRuntime.Device.Copy(TypeOf(from), new GpuOperand(source, 0, shape, MxArray.RowMajorStrides(shape)), TypeOf(to), copy);
        return copy;
    }

    /// <summary>One value of <paramref name="type"/> (a 32- or 64-bit type) in new scratch memory.</summary>
    public static unsafe GpuMemory Constant(DType type, double value)
    {
        ulong bits = type switch
        {
            DType.Float32 => BitConverter.SingleToUInt32Bits((float)value),
            DType.Float64 => BitConverter.DoubleToUInt64Bits(value),
            DType.Int32 or DType.UInt32 => (uint)(long)value,
            DType.Int64 or DType.UInt64 => (ulong)(long)value,
            _ => throw new ArgumentException($"No GPU constants of {type.Name()}."),
        };
        var memory = GpuRuntime.Scratch(type.Size());
        GpuRuntime.Device.Upload(memory, (nint)(&bits), type.Size());
        return memory;
    }

    public static void Release((GpuMemory Memory, bool Scalar, bool Scratch) operand)
    {
        if (operand.Scratch)
        {
            GpuRuntime.Free(operand.Memory);
        }
    }

    public static void Release(params (GpuMemory Memory, bool Scalar, bool Scratch)[] operands)
    {
        foreach (var operand in operands) Release(operand);
    }

    /// <summary>Runs <paramref name="compute"/> into a scratch result of <paramref name="computeType"/>, then converts it into <paramref name="o"/>.</summary>
    public static void IntoOutput(MxArray o, DType computeType, Action<GpuMemory> compute)
    {
        var device = GpuRuntime.Device;
        if (computeType == o.DType)
        {
            compute(GpuRuntime.AllocateOutput(o));
            return;
        }
        var tmp = GpuRuntime.Scratch(o.Size * computeType.Size());
        compute(tmp);
        var dst = GpuRuntime.AllocateOutput(o);
        device.Copy(TypeOf(computeType), new GpuOperand(tmp, 0, o.ShapeRef, MxArray.RowMajorStrides(o.ShapeRef)), TypeOf(o.DType), dst);
        GpuRuntime.Free(tmp);
    }
}

/// <summary>An input of a GPU row kernel in a compute type: its own memory and strides when the dtype matches, else a converted copy.</summary>
internal readonly record struct GpuDeviceOperand(GpuOperand Operand, GpuMemory? Scratch)
{
    public static GpuDeviceOperand Of(MxArray a, DType type)
    {
        if (a.DType == type)
        {
            return new GpuDeviceOperand(new GpuOperand(GpuRuntime.Memory(a), a.Offset, a.ShapeRef, a.Strides), null);
        }
        var copy = GpuOps.Operand(a, type, allowScalar: false);
        return new GpuDeviceOperand(new GpuOperand(copy.Memory, 0, a.ShapeRef, MxArray.RowMajorStrides(a.ShapeRef)), copy.Scratch ? copy.Memory : null);
    }

    /// <summary>Through canonical bools (0 or 1) first, then <paramref name="type"/>.</summary>
    public static GpuDeviceOperand ViaBool(MxArray a, DType type)
    {
        var bools = GpuOps.Operand(a, DType.Bool, allowScalar: false);
        var wide = GpuOps.Convert(bools.Memory, a.ShapeRef, DType.Bool, type);
        GpuOps.Release(bools);
        return new GpuDeviceOperand(new GpuOperand(wide, 0, a.ShapeRef, MxArray.RowMajorStrides(a.ShapeRef)), wide);
    }

    public void Release()
    {
        if (Scratch is { } m)
        {
            GpuRuntime.Free(m);
        }
    }
}
