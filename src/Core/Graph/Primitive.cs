namespace Mlx;

/// <summary>
/// One operation of the lazy graph: its CPU kernel and, beside it, its derivative rules. An op in <see cref="Mx"/>
/// checks arguments and computes shapes; the primitive does the work when the graph is evaluated.
/// </summary>
public abstract class Primitive
{
    public virtual string Name => GetType().Name;

    /// <summary>Computes <paramref name="outputs"/> (unevaluated arrays of known shape and dtype) from evaluated inputs.</summary>
    public abstract void EvalCpu(MxArray[] inputs, MxArray[] outputs);

    /// <summary>
    /// Computes the outputs on the GPU stream's device. Primitives without GPU kernels run their CPU kernel here: the
    /// inputs' data comes to the host when read and the outputs go to the GPU when a later GPU op reads them, so the
    /// program stays correct, only slower (MLX_PROFILE=1 lists these as "(host)").
    /// </summary>
    public virtual void EvalGpu(MxArray[] inputs, MxArray[] outputs) => EvalCpu(inputs, outputs);

    /// <summary>Whether <see cref="EvalGpu"/> runs GPU kernels (false: it falls back to the CPU kernel).</summary>
    public virtual bool HasGpuKernel => false;

    /// <summary>Vector-Jacobian product: cotangents of the inputs listed in <paramref name="argnums"/>.</summary>
    public virtual MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        throw new NotSupportedException($"{Name} has no vector-Jacobian product.");

    /// <summary>Jacobian-vector product: tangents of the outputs given tangents of the inputs in <paramref name="argnums"/>.</summary>
    public virtual MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        throw new NotSupportedException($"{Name} has no Jacobian-vector product.");

    /// <summary>
    /// Batching rule for <see cref="Mx.Vmap(Func{MxArray[], MxArray[]}, int?[], int[])"/>: <paramref name="inputs"/> are the
    /// node's inputs, those flagged in <paramref name="batched"/> carrying an extra leading batch axis; returns the
    /// outputs with a leading batch axis, or null when the primitive has no rule (vmap then maps by a loop).
    /// <paramref name="outputs"/> are the unbatched outputs of the trace (for their shapes).
    /// </summary>
    public virtual MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) => null;

    /// <summary>
    /// Whether two nodes with this primitive and the same inputs compute the same thing: a primitive with parameters
    /// compares them all. The compiler also compares the output shape and dtype, so those (Reshape, Broadcast, View)
    /// need no override.
    /// </summary>
    public virtual bool IsEquivalent(Primitive other) => other.GetType() == GetType();

    public override string ToString() => Name;
}

/// <summary>A node: one primitive applied to its inputs, producing one or more sibling outputs.</summary>
internal sealed class Node
{
    public Node(Primitive primitive, MxArray[] inputs)
    {
        foreach (var input in inputs)
        {
            if (input.IsReleased) throw new ObjectDisposedException(nameof(MxArray), "An operand was disposed (or its dispose scope ended) and its data freed.");
        }
        foreach (var input in inputs)
        {
            input.Claim();
        }
        Primitive = primitive;
        Inputs = inputs;
        Outputs = Array.Empty<MxArray>();
        Device = Mx.PlacementDevice;
    }

    /// <summary>Where the node runs: the stream or device of the op that built it, else the default device.</summary>
    public Device Device { get; }

    public Primitive Primitive { get; }
    public MxArray[] Inputs { get; }
    public MxArray[] Outputs { get; set; }
}

/// <summary>Small pieces shared by the derivative and batching rules.</summary>
internal static class RuleHelpers
{
    /// <summary>The tangent of input <paramref name="input"/>, or zeros like it when it has none.</summary>
    public static MxArray TangentOrZeros(int input, MxArray[] primals, MxArray[] tangents, int[] argnums)
    {
        int k = Array.IndexOf(argnums, input);
        return k >= 0 ? Mx.AsType(tangents[k], primals[input].DType) : Mx.ZerosLike(primals[input]);
    }

    /// <summary>
    /// The VJP of a primitive that computes what <paramref name="composition"/> computes from ops (a fused kernel):
    /// the derivative is the composition's, so the two cannot drift apart, and it is differentiable again.
    /// </summary>
    public static MxArray[] VjpOfComposition(Func<MxArray[], MxArray> composition, MxArray[] primals, MxArray[] cotangents, int[] argnums)
    {
        // Only the inputs asked for are differentiated: the others (indices, quantized codes) stay constants.
        var (_, vjps) = Mx.Vjp(a => new[] { composition(WithArguments(primals, argnums, a)) }, argnums.Select(i => primals[i]).ToArray(), cotangents);
        return vjps;
    }

    /// <summary>The JVP counterpart of <see cref="VjpOfComposition"/>: the inputs not in argnums are constants.</summary>
    public static MxArray[] JvpOfComposition(Func<MxArray[], MxArray> composition, MxArray[] primals, MxArray[] tangents, int[] argnums)
    {
        var inputs = argnums.Select(i => primals[i]).ToArray();
        var ts = argnums.Select((i, k) => Mx.AsType(tangents[k], primals[i].DType)).ToArray();
        return Mx.Jvp(a => new[] { composition(WithArguments(primals, argnums, a)) }, inputs, ts).Jvps;
    }

    // primals with argument argnums[k] replaced by a[k].
    private static MxArray[] WithArguments(MxArray[] primals, int[] argnums, MxArray[] a)
    {
        var full = (MxArray[])primals.Clone();
        for (int k = 0; k < argnums.Length; k++) full[argnums[k]] = a[k];
        return full;
    }

    /// <summary>The batch size: the leading axis of the first batched input.</summary>
    public static int BatchSize(MxArray[] inputs, bool[] batched) => inputs.Where((_, i) => batched[i]).First().ShapeRef[0];

    /// <summary>An input given the leading batch axis: unbatched ones are broadcast along it (no copy).</summary>
    public static MxArray Lift(MxArray x, bool batched, int b) =>
        batched ? x : Mx.BroadcastTo(Mx.ExpandDims(x, 0), new[] { b }.Concat(x.ShapeRef).ToArray());
}
