using Mlx.Kernels.Random;

namespace Mlx;

internal enum RandomMode
{
    Bits, UniformUnit, StandardNormal,
}

/// <summary>
/// Threefry-2x32 random numbers from a key array of shape [2] (uint32), bit-exact with MLX: raw bits of width
/// 1, 2 or 4 bytes, or float32 uniform in [0, 1) or standard normal built from 32-bit draws.
/// </summary>
internal sealed unsafe class RandomPrimitive : Primitive
{
    public RandomPrimitive(RandomMode mode, int width, float? loc = null, float? scale = null)
    {
        Mode = mode;
        Width = width;
        Loc = loc;
        Scale = scale;
    }

    public float? Loc { get; }
    public float? Scale { get; }

    public RandomMode Mode { get; }
    public int Width { get; }

    public override string Name => Mode == RandomMode.Bits ? "RandomBits" : "Random" + Mode;

    // The draw is a function of the key input: the same key and parameters give the same numbers (MLX merges them too).
    public override bool IsEquivalent(Primitive other) =>
        other is RandomPrimitive p && p.Mode == Mode && p.Width == Width && p.Loc == Loc && p.Scale == Scale;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var key = inputs[0].ToArray<uint>();
        var o = outputs[0];
        o.AllocateData();
        long n = o.Size;
        if (Mode == RandomMode.Bits)
        {
            Threefry.FillBits(key[0], key[1], new Span<byte>((void*)o.Buffer.Pointer, checked((int)(n * Width))), Width);
            return;
        }
        var bits = new uint[n];
        Threefry.FillBits(key[0], key[1], bits);
        var dst = new Span<float>((void*)o.Buffer.Pointer, (int)n);
        if (Mode == RandomMode.UniformUnit)
        {
            Threefry.Uniform(bits, dst);
        }
        else
        {
            Threefry.Normal(bits, dst, Loc, Scale);
        }
    }

    public override bool HasGpuKernel => true;

    /// <summary>The CPU's bits exactly (same counters); uniform bit-exact too, normal within an ulp or two (log and fma on the device).</summary>
    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        var key = GpuOps.Operand(inputs[0], DType.UInt32, allowScalar: false);
        var dst = GpuRuntime.AllocateOutput(o);
        if (Mode == RandomMode.Bits)
        {
            GpuRuntime.Device.RandomBits(key.Memory, dst, o.Size * Width);
        }
        else
        {
            float low = Threefry.AboveMinusOne;
            float applied = Scale.HasValue ? Threefry.Sqrt2 * Scale.GetValueOrDefault() : Threefry.Sqrt2;
            GpuRuntime.Device.RandomFloats(key.Memory, dst, o.Size, Mode == RandomMode.StandardNormal, low, 1f - low, applied, Loc);
        }
        GpuOps.Release(key);
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) => new[] { Mx.ZerosLike(primals[0]) };

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) => new[] { Mx.ZerosLike(outputs[0]) };
}
