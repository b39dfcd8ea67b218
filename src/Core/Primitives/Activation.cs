using Mlx.Kernels;

namespace Mlx;

/// <summary>
/// silu and the gelus in one pass on the CPU (<see cref="Activations"/>): float32 directly, float16/bfloat16 tile by
/// tile through float32, float64 element by element with the exact formulas (erf included). nn builds it for
/// floating inputs placed on the CPU; elsewhere it builds the compiled composition. Its derivatives are the
/// composition's.
/// </summary>
internal sealed unsafe class ActivationPrimitive : Primitive
{
    public ActivationPrimitive(ActivationFn fn) => Fn = fn;

    public ActivationFn Fn { get; }

    public override string Name => Fn.ToString();

    public override bool IsEquivalent(Primitive other) => other is ActivationPrimitive p && p.Fn == Fn;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        var fn = Fn;
        if (o.DType is DType.Float16 or DType.BFloat16)
        {
            if (!Dispatch.TryTiledViaFloat32(inputs, o, (p, _, q, len) => Activations.Run(fn, new ReadOnlySpan<float>(p[0], len), new Span<float>((float*)q, len)), expandScalars: true))
                Dispatch.ViaFloat32(inputs, outputs, EvalCpu);
            return;
        }
        var x = Cast.Contiguous(inputs[0]);
        o.AllocateData();
        nint px = (nint)x.RawPtr, po = (nint)o.RawPtr;
        if (o.DType == DType.Float32)
        {
            Parallelism.For(o.Size, 16, (s, e) =>
                Activations.Run(fn, new ReadOnlySpan<float>((float*)px + s, (int)(e - s)), new Span<float>((float*)po + s, (int)(e - s))));
        }
        else if (o.DType == DType.Float64)
        {
            Parallelism.For(o.Size, 16, (s, e) =>
            {
                for (long i = s; i < e; i++) ((double*)po)[i] = Exact(fn, ((double*)px)[i]);
            });
        }
        else
        {
            throw new NotSupportedException($"{Fn} needs a floating input, not {o.DType.Name()}.");
        }
        if (!ReferenceEquals(x, inputs[0])) x.Buffer.Release();
    }

    private static double Exact(ActivationFn fn, double x) => fn switch
    {
        ActivationFn.Silu => x / (1 + Math.Exp(-x)),
        ActivationFn.Gelu => x * 0.5 * (1 + SpecialFunctions.Erf(x / Math.Sqrt(2))),
        ActivationFn.GeluApprox => x * 0.5 * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
        _ => x / (1 + Math.Exp(-1.702 * x)),
    };

    /// <summary>
    /// The activation composed from ops (mlx.nn's definitions): what the derivatives are taken of, and, compiled, what
    /// nn runs off the CPU. x^3 is x * x * x there, a power not being fusable.
    /// </summary>
    internal static MxArray Composition(ActivationFn fn, MxArray x) => fn switch
    {
        ActivationFn.Silu => Mx.Multiply(x, Mx.Sigmoid(x)),
        ActivationFn.Gelu => Mx.Multiply(Mx.Multiply(x, 0.5), Mx.Add(Mx.Erf(Mx.Divide(x, Math.Sqrt(2))), 1.0)),
        ActivationFn.GeluApprox => Mx.Multiply(Mx.Multiply(x, 0.5),
            Mx.Add(Mx.Tanh(Mx.Multiply(Mx.Add(x, Mx.Multiply(Mx.Multiply(Mx.Multiply(x, x), x), 0.044715)), Math.Sqrt(2 / Math.PI))), 1.0)),
        _ => Mx.Multiply(x, Mx.Sigmoid(Mx.Multiply(x, 1.702))),
    };

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        RuleHelpers.VjpOfComposition(a => Composition(Fn, a[0]), primals, cotangents, argnums);

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        RuleHelpers.JvpOfComposition(a => Composition(Fn, a[0]), primals, tangents, argnums);

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        new[] { MxArray.Create(inputs[0].ShapeRef, outputs[0].DType, this, inputs[0]) };
}
