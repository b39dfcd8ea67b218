namespace Mlx;

/// <summary>Marks the start of a traced function: an identity whose output is the array a transform differentiates by.</summary>
internal sealed class TracerPrimitive : Primitive
{
    public override string Name => "Tracer";

    public override bool IsEquivalent(Primitive other) => false;

    // An identity view: nothing to compute on any device.
    public override bool HasGpuKernel => true;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs) =>
        outputs[0].SetView(inputs[0], inputs[0].Strides, inputs[0].Offset);

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) => cotangents;

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) => tangents;

    // A grad traced inside vmap leaves its tracers in the graph: identities, batched as their input.
    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) => inputs;
}

public static partial class Mx
{
    private static MxArray Trace(MxArray x) => MxArray.Create(x.ShapeRef, x.DType, new TracerPrimitive(), x);

    /// <summary>
    /// The pending nodes between <paramref name="tracers"/> and <paramref name="outputs"/>, inputs first, with the
    /// set of arrays that depend on a tracer (only those carry derivatives).
    /// </summary>
    private static (List<Node> Order, HashSet<MxArray> Dependent) Tape(MxArray[] tracers, MxArray[] outputs)
    {
        var order = Evaluator.TopologicalOrder(outputs);
        var dependent = new HashSet<MxArray>(ReferenceEqualityComparer.Instance);
        foreach (var t in tracers) dependent.Add(t);
        var kept = new List<Node>();
        foreach (var node in order)
        {
            if (node.Primitive is TracerPrimitive && tracers.Any(t => ReferenceEquals(t.PendingNode, node)))
            {
                continue;
            }
            if (node.Primitive is StopGradientPrimitive)
            {
                continue;
            }
            if (node.Inputs.Any(dependent.Contains))
            {
                foreach (var o in node.Outputs) dependent.Add(o);
                kept.Add(node);
            }
        }
        return (kept, dependent);
    }

    /// <summary>
    /// Vector-Jacobian product: the outputs of <paramref name="fun"/> at <paramref name="primals"/> and the
    /// cotangents of the primals given <paramref name="cotangents"/> for the outputs.
    /// </summary>
    public static (MxArray[] Outputs, MxArray[] Vjps) Vjp(Func<MxArray[], MxArray[]> fun, MxArray[] primals, MxArray[] cotangents)
    {
        var tracers = primals.Select(Trace).ToArray();
        var outputs = fun(tracers);
        if (outputs.Length != cotangents.Length)
        {
            throw new ArgumentException($"vjp: {outputs.Length} outputs but {cotangents.Length} cotangents.");
        }
        var (order, dependent) = Tape(tracers, outputs);
        // The backward pass's arrays are this function's own: each is freed once what reads it has run.
        using var scope = Mx.NewDisposeScope();
        var grads = new Dictionary<MxArray, MxArray>(ReferenceEqualityComparer.Instance);
        void Accumulate(MxArray target, MxArray g)
        {
            if (!g.ShapeRef.SequenceEqual(target.ShapeRef)) g = SumToShape(BroadcastTo(g, Shapes.Broadcast(g.ShapeRef, target.ShapeRef)), target.ShapeRef);
            if (g.DType != target.DType && target.DType.IsInexact()) g = AsType(g, target.DType);
            grads[target] = grads.TryGetValue(target, out var prev) ? Add(prev, g) : g;
        }
        for (int i = 0; i < outputs.Length; i++)
        {
            if (dependent.Contains(outputs[i])) Accumulate(outputs[i], cotangents[i]);
        }
        for (int n = order.Count - 1; n >= 0; n--)
        {
            var node = order[n];
            if (!node.Outputs.Any(grads.ContainsKey))
            {
                continue;
            }
            var cots = node.Outputs.Select(o => grads.TryGetValue(o, out var g) ? g : ZerosLike(o)).ToArray();
            var argnums = Enumerable.Range(0, node.Inputs.Length).Where(i => dependent.Contains(node.Inputs[i])).ToArray();
            var vjps = node.Primitive.Vjp(node.Inputs, cots, argnums, node.Outputs);
            for (int k = 0; k < argnums.Length; k++)
            {
                Accumulate(node.Inputs[argnums[k]], vjps[k]);
            }
        }
        var result = tracers.Select(t => grads.TryGetValue(t, out var g) ? g : ZerosLike(t)).ToArray();
        scope.MoveToOuter(result);
        return (outputs, result);
    }

    /// <summary>Jacobian-vector product: the outputs and their tangents given tangents of the primals.</summary>
    public static (MxArray[] Outputs, MxArray[] Jvps) Jvp(Func<MxArray[], MxArray[]> fun, MxArray[] primals, MxArray[] tangents)
    {
        if (primals.Length != tangents.Length) throw new ArgumentException("jvp: one tangent per primal is needed.");
        var tracers = primals.Select(Trace).ToArray();
        var outputs = fun(tracers);
        var (order, dependent) = Tape(tracers, outputs);
        var tan = new Dictionary<MxArray, MxArray>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < tracers.Length; i++) tan[tracers[i]] = tangents[i];
        foreach (var node in order)
        {
            var argnums = Enumerable.Range(0, node.Inputs.Length).Where(i => tan.ContainsKey(node.Inputs[i])).ToArray();
            if (argnums.Length == 0) continue;
            var ts = argnums.Select(i => tan[node.Inputs[i]]).ToArray();
            var outs = node.Primitive.Jvp(node.Inputs, ts, argnums, node.Outputs);
            for (int k = 0; k < outs.Length; k++) tan[node.Outputs[k]] = outs[k];
        }
        return (outputs, outputs.Select(o => tan.TryGetValue(o, out var t) ? t : ZerosLike(o)).ToArray());
    }

    /// <summary>
    /// A function returning the value of <paramref name="fun"/> (its first output must be a scalar loss; the
    /// others are auxiliary outputs, returned as they are) and the gradients with respect to the arguments
    /// listed in <paramref name="argnums"/> (default: the first).
    /// </summary>
    public static Func<MxArray[], (MxArray[] Values, MxArray[] Grads)> ValueAndGrad(Func<MxArray[], MxArray[]> fun, int[]? argnums = null)
    {
        return args =>
        {
            var nums = argnums ?? new[] { 0 };
            foreach (int a in nums)
            {
                if (a < 0 || a >= args.Length) throw new ArgumentException($"argnum {a} is out of range for {args.Length} arguments.");
            }
            MxArray[]? full = null;
            var (outputs, vjps) = Vjp(
                diff =>
                {
                    var call = (MxArray[])args.Clone();
                    for (int i = 0; i < nums.Length; i++) call[nums[i]] = diff[i];
                    full = fun(call);
                    if (full.Length == 0 || full[0].Size != 1)
                    {
                        throw new ArgumentException($"The function to differentiate must return a scalar first; it returned shape {(full.Length == 0 ? "none" : MxArray.FormatShape(full[0].ShapeRef))}.");
                    }
                    return new[] { full[0] };
                },
                nums.Select(i => args[i]).ToArray(),
                new[] { OnesLike(Reshape(Array(1f), System.Array.Empty<int>())) });
            var values = full!;
            return (values, vjps);
        };
    }

    public static Func<MxArray, (MxArray Value, MxArray Grad)> ValueAndGrad(Func<MxArray, MxArray> fun)
    {
        var vg = ValueAndGrad(args => new[] { fun(args[0]) });
        return x =>
        {
            var (v, g) = vg(new[] { x });
            return (v[0], g[0]);
        };
    }

    /// <summary>
    /// <see cref="ValueAndGrad(Func{MxArray[], MxArray[]}, int[])"/> over trees of arrays, as MLX's pytrees: each argument
    /// is an <see cref="MxArray"/>, a dictionary of trees by name or a list of trees; the gradient of an argument has its
    /// shape (dictionaries as <c>Dictionary&lt;string, object&gt;</c>, lists as <c>List&lt;object&gt;</c>).
    /// </summary>
    public static Func<object[], (MxArray[] Values, object[] Grads)> TreeValueAndGrad(Func<object[], MxArray[]> fun, int[]? argnums = null)
    {
        return args =>
        {
            var nums = argnums ?? new[] { 0 };
            var leaves = nums.Select(i => Mlx.Nn.Tree.Flatten(args[i]).Select(l => l.Value).ToArray()).ToArray();
            var offsets = new int[nums.Length + 1];
            for (int k = 0; k < nums.Length; k++) offsets[k + 1] = offsets[k] + leaves[k].Length;
            var vg = ValueAndGrad(flat =>
            {
                var call = (object[])args.Clone();
                for (int k = 0; k < nums.Length; k++)
                {
                    call[nums[k]] = Mlx.Nn.Tree.Rebuild(args[nums[k]], new Queue<MxArray>(flat[offsets[k]..offsets[k + 1]]));
                }
                return fun(call);
            }, Enumerable.Range(0, offsets[^1]).ToArray());
            var (values, grads) = vg(leaves.SelectMany(l => l).ToArray());
            var trees = nums.Select((n, k) => Mlx.Nn.Tree.Rebuild(args[n], new Queue<MxArray>(grads[offsets[k]..offsets[k + 1]]))).ToArray();
            return (values, trees);
        };
    }

    /// <summary>Gradients over trees of arrays (see <see cref="TreeValueAndGrad"/>); the first output of <paramref name="fun"/> is the scalar loss.</summary>
    public static Func<object[], object[]> TreeGrad(Func<object[], MxArray> fun, int[]? argnums = null)
    {
        var vg = TreeValueAndGrad(args => new[] { fun(args) }, argnums);
        return args => vg(args).Grads;
    }

    public static Func<MxArray[], MxArray[]> Grad(Func<MxArray[], MxArray> fun, int[]? argnums = null)
    {
        var vg = ValueAndGrad(args => new[] { fun(args) }, argnums);
        return args => vg(args).Grads;
    }

    public static Func<MxArray, MxArray> Grad(Func<MxArray, MxArray> fun)
    {
        var vg = ValueAndGrad(fun);
        return x => vg(x).Grad;
    }

    /// <summary>
    /// Vectorizes <paramref name="fun"/> over axis <paramref name="inAxes"/>[i] of each argument (null: not mapped)
    /// and stacks results on <paramref name="outAxes"/>. The function is traced once on one batch element, then its
    /// graph is rebuilt with a leading batch axis through each primitive's batching rule (<see cref="Primitive.Vmap"/>);
    /// if some primitive has no rule, the function runs once per batch element and the results are stacked.
    /// </summary>
    public static Func<MxArray[], MxArray[]> Vmap(Func<MxArray[], MxArray[]> fun, int?[]? inAxes = null, int[]? outAxes = null)
    {
        return args =>
        {
            var axes = inAxes ?? Enumerable.Repeat<int?>(0, args.Length).ToArray();
            if (axes.Length != args.Length) throw new ArgumentException("vmap: one in-axis per argument is needed.");
            int n = -1;
            for (int i = 0; i < args.Length; i++)
            {
                if (axes[i] is { } ax)
                {
                    int size = args[i].ShapeRef[Shapes.Axis(ax, args[i].NDim)];
                    if (n >= 0 && size != n) throw new ArgumentException($"vmap: mapped axes have sizes {n} and {size}.");
                    n = size;
                }
            }
            if (n < 0) throw new ArgumentException("vmap: at least one argument must be mapped.");
            var results = n > 0 ? VmapByRules(fun, args, axes, n) : null;
            results ??= VmapByLoop(fun, args, axes, n);
            var oax = outAxes ?? Enumerable.Repeat(0, results.Length).ToArray();
            return results.Select((r, k) => MoveAxis(r, 0, oax[k])).ToArray();
        };
    }

    /// <summary>The batched graph with the batch axis first, or null when a primitive has no batching rule.</summary>
    private static MxArray[]? VmapByRules(Func<MxArray[], MxArray[]> fun, MxArray[] args, int?[] axes, int n)
    {
        var moved = args.Select((a, i) => axes[i] is { } ax ? MoveAxis(a, Shapes.Axis(ax, a.NDim), 0) : a).ToArray();
        var examples = moved.Select((a, i) => axes[i] is null ? a : Take(a, Array(0), 0)).ToArray();
        var tracers = examples.Select(x => MxArray.Create(x.ShapeRef, x.DType, new TracerPrimitive(), x)).ToArray();
        var outs = fun(tracers);
        var values = new Dictionary<MxArray, (MxArray Value, bool Batched)>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < tracers.Length; i++) values[tracers[i]] = (axes[i] is null ? args[i] : moved[i], axes[i] is not null);
        foreach (var node in Evaluator.TopologicalOrder(outs))
        {
            if (!node.Inputs.Any(values.ContainsKey))
            {
                continue; // does not depend on the arguments (or is one of our tracers)
            }
            var inputs = node.Inputs.Select(x => values.TryGetValue(x, out var v) ? v.Value : x).ToArray();
            var batched = node.Inputs.Select(x => values.TryGetValue(x, out var v) && v.Batched).ToArray();
            MxArray[] produced;
            bool anyBatched = batched.Any(b => b);
            if (!anyBatched)
            {
                produced = MxArray.Create(node.Outputs.Select(o => o.ShapeRef).ToArray(), node.Outputs.Select(o => o.DType).ToArray(), node.Primitive, inputs);
            }
            else if (node.Primitive.Vmap(inputs, batched, node.Outputs) is { } rule)
            {
                produced = rule;
            }
            else
            {
                return null;
            }
            for (int k = 0; k < node.Outputs.Length; k++) values[node.Outputs[k]] = (produced[k], anyBatched);
        }
        return outs.Select(o =>
        {
            var (value, batchedOut) = values.TryGetValue(o, out var v) ? v : (o, false);
            // An output that does not depend on a mapped argument is the same for every batch element.
            return batchedOut ? value : BroadcastTo(ExpandDims(value, 0), new[] { n }.Concat(value.ShapeRef).ToArray());
        }).ToArray();
    }

    /// <summary>How many times vmap fell back to a loop on this thread: lets tests tell that a batching rule ran.</summary>
    [ThreadStatic]
    internal static int VmapLoopFallbacks;

    private static MxArray[] VmapByLoop(Func<MxArray[], MxArray[]> fun, MxArray[] args, int?[] axes, int n)
    {
        VmapLoopFallbacks++;
        var results = new List<MxArray[]>();
        for (int b = 0; b < n; b++)
        {
            var call = args.Select((a, i) => axes[i] is { } ax ? Take(a, Array(b), Shapes.Axis(ax, a.NDim)) : a).ToArray();
            results.Add(fun(call));
        }
        if (n == 0)
        {
            throw new ArgumentException("vmap over an empty axis needs batching rules for every primitive of the function.");
        }
        int outputs = results[0].Length;
        return Enumerable.Range(0, outputs).Select(k => Stack(results.Select(r => r[k]).ToArray(), 0)).ToArray();
    }

    public static Func<MxArray, MxArray> Vmap(Func<MxArray, MxArray> fun, int inAxis = 0, int outAxis = 0)
    {
        var v = Vmap(args => new[] { fun(args[0]) }, new int?[] { inAxis }, new[] { outAxis });
        return x => v(new[] { x })[0];
    }

    /// <summary>
    /// A function with user-defined transformation rules, as <c>mx.custom_function</c>: <paramref name="forward"/>
    /// computes the outputs; <paramref name="vjp"/> (primals, cotangents, outputs) gives the cotangents of the primals;
    /// <paramref name="jvp"/> (primals, tangents) gives the tangents of the outputs (without it, the JVP of
    /// <paramref name="forward"/>); <paramref name="vmap"/> (inputs, axes: null where unbatched) gives the batched
    /// outputs and the axis each carries its batch on (without it, vmap maps the function by a loop).
    /// </summary>
    public static Func<MxArray[], MxArray[]> CustomFunction(
        Func<MxArray[], MxArray[]> forward,
        Func<MxArray[], MxArray[], MxArray[], MxArray[]> vjp,
        Func<MxArray[], MxArray[], MxArray[]>? jvp = null,
        Func<MxArray[], int?[], (MxArray[] Outputs, int[] Axes)>? vmap = null)
    {
        return args =>
        {
            var outs = forward(args.Select(a => StopGradient(a)).ToArray());
            var prim = new CustomFunctionPrimitive(forward, vjp, jvp, vmap, outs.Length);
            var shapes = outs.Select(o => o.ShapeRef).ToArray();
            var dtypes = outs.Select(o => o.DType).ToArray();
            return MxArray.Create(shapes, dtypes, prim, args.Concat(outs).ToArray());
        };
    }

    /// <summary>Checkpointing: the forward values are recomputed in the backward pass instead of kept.</summary>
    public static Func<MxArray[], MxArray[]> Checkpoint(Func<MxArray[], MxArray[]> fun) =>
        CustomFunction(fun, (primals, cotangents, outputs) => Vjp(fun, primals, cotangents).Vjps);
}

/// <summary>Carries a custom function's rules: its inputs are the primals followed by the forward outputs it passes through.</summary>
internal sealed class CustomFunctionPrimitive : Primitive
{
    private readonly Func<MxArray[], MxArray[]> _forward;
    private readonly Func<MxArray[], MxArray[], MxArray[], MxArray[]> _vjp;
    private readonly Func<MxArray[], MxArray[], MxArray[]>? _jvp;
    private readonly Func<MxArray[], int?[], (MxArray[] Outputs, int[] Axes)>? _vmap;
    private readonly int _outputs;

    public CustomFunctionPrimitive(Func<MxArray[], MxArray[]> forward, Func<MxArray[], MxArray[], MxArray[], MxArray[]> vjp,
        Func<MxArray[], MxArray[], MxArray[]>? jvp, Func<MxArray[], int?[], (MxArray[] Outputs, int[] Axes)>? vmap, int outputs)
    {
        _forward = forward;
        _vjp = vjp;
        _jvp = jvp;
        _vmap = vmap;
        _outputs = outputs;
    }

    public override string Name => "CustomFunction";

    public override bool IsEquivalent(Primitive other) => false;

    public override bool HasGpuKernel => true;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        int first = inputs.Length - _outputs;
        for (int i = 0; i < _outputs; i++)
        {
            outputs[i].SetView(inputs[first + i], inputs[first + i].Strides, inputs[first + i].Offset);
        }
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        int n = primals.Length - _outputs;
        var grads = _vjp(primals.Take(n).ToArray(), cotangents, outputs);
        return argnums.Select(i => i < n ? grads[i] : Mx.ZerosLike(primals[i])).ToArray();
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs)
    {
        int n = primals.Length - _outputs;
        var args = primals.Take(n).ToArray();
        // The user rule sees a tangent for every primal: zeros where none was given.
        var full = args.Select(a => Mx.ZerosLike(a)).ToArray();
        for (int k = 0; k < argnums.Length; k++)
        {
            if (argnums[k] < n)
            {
                full[argnums[k]] = tangents[k];
            }
        }
        return _jvp is not null ? _jvp(args, full) : Mx.Jvp(_forward, args, full).Jvps;
    }

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs)
    {
        if (_vmap is null)
        {
            return null;
        }
        int n = inputs.Length - _outputs;
        var (results, axes) = _vmap(inputs.Take(n).ToArray(), batched.Take(n).Select(b => b ? (int?)0 : null).ToArray());
        int size = inputs.Where((_, i) => batched[i]).First().ShapeRef[0];
        // Batching rules return the batch on axis 0.
        return results.Select((r, k) => axes[k] >= 0
            ? Mx.MoveAxis(r, axes[k], 0)
            : Mx.BroadcastTo(Mx.ExpandDims(r, 0), new[] { size }.Concat(r.ShapeRef).ToArray())).ToArray();
    }
}
