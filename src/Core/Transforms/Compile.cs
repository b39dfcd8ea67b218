using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Mlx.Kernels;

namespace Mlx;

public static partial class Mx
{
    /// <summary>How many traces (shape and dtype combinations) one compiled function keeps before it starts over.</summary>
    public const int MaxTracesPerFunction = 256;

    /// <summary>
    /// Compiles <paramref name="fun"/> as mlx.core.compile does: the function is traced once per input shapes and
    /// dtypes, equal nodes are merged, no-ops dropped, and chains of float32 elementwise ops (unary, binary,
    /// broadcasts of their inputs) are fused into one kernel that streams over memory tile by tile, with no
    /// intermediate arrays. Later calls with the same shapes and dtypes replay the optimized graph on the new inputs.
    /// With <paramref name="shapeless"/>, a change of shapes (same ranks and dtypes) does not force a new trace of
    /// the cache entry... the graph is re-traced cheaply for the new shapes, so results stay exact.
    /// </summary>
    public static Func<MxArray[], MxArray[]> Compile(Func<MxArray[], MxArray[]> fun, bool shapeless = false)
    {
        var cache = new Dictionary<string, CompiledGraph>(StringComparer.Ordinal);
        return inputs =>
        {
            string key = string.Join(";", inputs.Select(x => x.DType.Name() + ":" + string.Join(",", x.ShapeRef)));
            CompiledGraph? graph;
            lock (cache)
            {
                if (!cache.TryGetValue(key, out graph))
                {
                    // One trace per shape: a caller with ever-new shapes (sequence lengths) must not grow it forever.
                    if (cache.Count >= MaxTracesPerFunction) cache.Clear();
                    graph = CompiledGraph.Trace(fun, inputs);
                    cache[key] = graph;
                }
            }
            return graph.Run(inputs);
        };
    }

    public static Func<MxArray, MxArray> Compile(Func<MxArray, MxArray> fun, bool shapeless = false)
    {
        var compiled = Compile(args => new[] { fun(args[0]) }, shapeless);
        return x => compiled(new[] { x })[0];
    }
}

/// <summary>A traced function: a tape of nodes over input slots and captured constants, with fused groups.</summary>
internal sealed class CompiledGraph
{
    private readonly List<Step> _steps = new();
    private readonly int _inputCount;
    private readonly Operand[] _outputs;

    /// <summary>Where a step's input comes from: a function input, an earlier step's output, or a constant array.</summary>
    private readonly record struct Operand(int Input, int Step, int Output, MxArray? Constant);

    private sealed record Step(Primitive Primitive, Operand[] Inputs, int[][] Shapes, DType[] DTypes);

    private CompiledGraph(int inputCount, Operand[] outputs)
    {
        _inputCount = inputCount;
        _outputs = outputs;
    }

    public static CompiledGraph Trace(Func<MxArray[], MxArray[]> fun, MxArray[] inputs)
    {
        // The trace and its constants live as long as the compiled function, not as the caller's dispose scope.
        using var suspension = DisposeScope.Suspend();
        var tracers = inputs.Select(x => MxArray.Create(x.ShapeRef, x.DType, new TracerPrimitive(), x)).ToArray();
        var outputs = fun(tracers);
        var order = Evaluator.TopologicalOrder(outputs);
        var where = new Dictionary<MxArray, Operand>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < tracers.Length; i++) where[tracers[i]] = new Operand(i, -1, 0, null);
        var graph = new CompiledGraph(inputs.Length, System.Array.Empty<Operand>());
        var dependent = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var node in order)
        {
            if (tracers.Any(t => ReferenceEquals(t.PendingNode, node)))
            {
                continue;
            }
            if (!node.Inputs.Any(where.ContainsKey))
            {
                // Does not depend on the inputs: a constant of the trace.
                continue;
            }
            var ops = node.Inputs.Select(x => where.TryGetValue(x, out var o) ? o : new Operand(-1, -1, 0, x)).ToArray();
            // Common subexpressions: same primitive kind and parameters over the same operands.
            string signature = node.Primitive.Name + "(" + string.Join(",", ops.Select(Describe)) + ")";
            if (node.Outputs.Length == 1 && seen.TryGetValue(signature, out int earlier)
                && graph._steps[earlier].Primitive.IsEquivalent(node.Primitive) && node.Primitive.IsEquivalent(graph._steps[earlier].Primitive)
                && graph._steps[earlier].Shapes[0].SequenceEqual(node.Outputs[0].ShapeRef) && graph._steps[earlier].DTypes[0] == node.Outputs[0].DType)
            {
                where[node.Outputs[0]] = new Operand(-1, earlier, 0, null);
                continue;
            }
            // No-ops: a cast to the same dtype, a broadcast or reshape to the same shape.
            if (node.Outputs.Length == 1 && ops.Length == 1 && IsNoOp(node, node.Inputs[0]))
            {
                where[node.Outputs[0]] = ops[0];
                continue;
            }
            graph._steps.Add(new Step(node.Primitive, ops, node.Outputs.Select(o => o.ShapeRef).ToArray(), node.Outputs.Select(o => o.DType).ToArray()));
            int index = graph._steps.Count - 1;
            if (node.Outputs.Length == 1) seen[signature] = index;
            for (int k = 0; k < node.Outputs.Length; k++) where[node.Outputs[k]] = new Operand(-1, index, k, null);
        }
        var outs = outputs.Select(o => where.TryGetValue(o, out var op) ? op : new Operand(-1, -1, 0, o)).ToArray();
        var fused = Fuse(graph._steps, outs, out var fusedOuts);
        var result = new CompiledGraph(inputs.Length, fusedOuts);
        result._steps.AddRange(fused);
        // Constants are evaluated once, now, so replays only compute what depends on the inputs.
        Mx.Eval(result._steps.SelectMany(s => s.Inputs).Concat(fusedOuts).Where(o => o.Constant is not null).Select(o => o.Constant!).ToArray());
        return result;
    }

    private static string Describe(Operand o) =>
        o.Constant is not null ? "c" + System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(o.Constant) : o.Input >= 0 ? "i" + o.Input : $"s{o.Step}.{o.Output}";

    private static bool IsNoOp(Node node, MxArray input) => node.Primitive switch
    {
        AsTypePrimitive p => p.DType == input.DType && node.Outputs[0].ShapeRef.SequenceEqual(input.ShapeRef) && !ReferenceEquals(node.Primitive.Name, "Copy"),
        BroadcastPrimitive or ReshapePrimitive => node.Outputs[0].ShapeRef.SequenceEqual(input.ShapeRef),
        _ => false,
    };

    public MxArray[] Run(MxArray[] inputs)
    {
        if (inputs.Length != _inputCount) throw new ArgumentException($"The compiled function takes {_inputCount} inputs, not {inputs.Length}.");
        var produced = new MxArray[_steps.Count][];
        MxArray Resolve(Operand o) => o.Constant ?? (o.Input >= 0 ? inputs[o.Input] : produced[o.Step][o.Output]);
        // The steps' own arrays are nobody else's: each is freed once the steps reading it have run.
        using var scope = Mx.NewDisposeScope();
        for (int i = 0; i < _steps.Count; i++)
        {
            var s = _steps[i];
            produced[i] = MxArray.Create(s.Shapes, s.DTypes, s.Primitive, s.Inputs.Select(Resolve).ToArray());
        }
        var outputs = _outputs.Select(Resolve).ToArray();
        scope.MoveToOuter(outputs);
        return outputs;
    }

    // ------------------------------------------------------------------ fusion

    private static bool Fusable(Step s) =>
        s.DTypes.Length == 1 && s.DTypes[0] == DType.Float32 && s.Primitive switch
        {
            BinaryPrimitive b => b.Op is BinaryOp.Add or BinaryOp.Subtract or BinaryOp.Multiply or BinaryOp.Divide or BinaryOp.Maximum or BinaryOp.Minimum,
            UnaryPrimitive u => (int)u.Op <= (int)UnaryOp.Radians,
            _ => false,
        };

    /// <summary>
    /// Groups connected float32 elementwise steps whose intermediate results are used only inside the group
    /// into one <see cref="FusedElementwisePrimitive"/> step; broadcasts feeding them become strides.
    /// </summary>
    private static List<Step> Fuse(List<Step> steps, Operand[] outputs, out Operand[] mappedOutputs)
    {
        var uses = new int[steps.Count];
        foreach (var s in steps) foreach (var o in s.Inputs) if (o.Step >= 0) uses[o.Step]++;
        foreach (var o in outputs) if (o.Step >= 0) uses[o.Step] += 1000;
        var group = new int[steps.Count];
        System.Array.Fill(group, -1);
        // Walk backwards: a fusable step whose only consumer is a fusable step of a group joins that group.
        var consumer = new int[steps.Count];
        System.Array.Fill(consumer, -1);
        for (int i = 0; i < steps.Count; i++) foreach (var o in steps[i].Inputs) if (o.Step >= 0) consumer[o.Step] = i;
        for (int i = steps.Count - 1; i >= 0; i--)
        {
            if (!Fusable(steps[i])) continue;
            int c = consumer[i];
            bool joins = uses[i] == 1 && c >= 0 && group[c] >= 0 && steps[c].Shapes[0].SequenceEqual(steps[i].Shapes[0]);
            group[i] = joins ? group[c] : i;
        }
        var sizes = group.Where(g => g >= 0).GroupBy(g => g).ToDictionary(g => g.Key, g => g.Count());
        var newIndex = new int[steps.Count];
        var result = new List<Step>();
        Operand Map(Operand o) => o.Step >= 0 ? o with { Step = newIndex[o.Step] } : o;
        for (int i = 0; i < steps.Count; i++)
        {
            int g = group[i];
            if (g < 0 || sizes[g] == 1)
            {
                result.Add(steps[i] with { Inputs = steps[i].Inputs.Select(Map).ToArray() });
                newIndex[i] = result.Count - 1;
                continue;
            }
            if (g != i)
            {
                continue; // emitted with its root
            }
            // The group's root is step i (its last member); collect members in order.
            var members = Enumerable.Range(0, i + 1).Where(j => group[j] == g).ToList();
            var external = new List<Operand>();
            var program = new List<FusedOp>();
            var slotOf = new Dictionary<int, int>();
            int SlotFor(Operand o)
            {
                if (o.Step >= 0 && group[o.Step] == g) return slotOf[o.Step];
                var mapped = Map(o);
                int e = external.IndexOf(mapped);
                if (e < 0)
                {
                    external.Add(mapped);
                    e = external.Count - 1;
                }
                return -1 - e;
            }
            foreach (int m in members)
            {
                var s = steps[m];
                var args = s.Inputs.Select(SlotFor).ToArray();
                program.Add(new FusedOp(s.Primitive, args));
                slotOf[m] = program.Count - 1;
            }
            var shape = steps[i].Shapes[0];
            result.Add(new Step(new FusedElementwisePrimitive(program.ToArray(), external.Count), external.ToArray(), new[] { shape }, new[] { DType.Float32 }));
            newIndex[i] = result.Count - 1;
        }
        mappedOutputs = outputs.Select(Map).ToArray();
        return result;
    }
}

/// <summary>One op of a fused program: negative arguments are external inputs (-1 - index), others earlier ops.</summary>
internal sealed record FusedOp(Primitive Primitive, int[] Args);

/// <summary>
/// A chain of float32 elementwise ops run tile by tile: each external input's tile is read once (broadcast and
/// strided inputs included), the ops run on cache-resident tiles, and only the final result is written.
/// </summary>
internal sealed unsafe class FusedElementwisePrimitive : Primitive
{
    private const int Tile = 8192;
    private readonly FusedOp[] _program;
    private readonly int _externals;

    // Step j is a maximum with a value whose only reader, step j + 1, takes its minimum with another: clip.
    private readonly bool[] _clampAt;

    public FusedElementwisePrimitive(FusedOp[] program, int externals)
    {
        _program = program;
        _externals = externals;
        _clampAt = new bool[program.Length];
        for (int j = 0; j + 1 < program.Length; j++)
        {
            _clampAt[j] = program[j].Primitive is BinaryPrimitive { Op: BinaryOp.Maximum } && program[j + 1].Primitive is BinaryPrimitive { Op: BinaryOp.Minimum }
                && program[j].Args.Length == 2 && program[j + 1].Args.Count(a => a == j) == 1 && program[j + 1].Args.Count(a => a < 0) == 1
                && program.Count(p => p.Args.Contains(j)) == 1;
        }
    }

    public override string Name => "Fused[" + string.Join(",", _program.Select(p => p.Primitive.Name)) + "]";

    public override bool IsEquivalent(Primitive other) => ReferenceEquals(this, other);

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        o.AllocateData();
        int[] shape = o.ShapeRef;
        // Inputs may have fewer dims or size-1 dims: view them broadcast to the output shape.
        var strides = inputs.Select(x => BroadcastStrides(x, shape)).ToArray();
        var (cs, cst) = Strided.Collapse(shape, strides.Append(Strided.RowMajor(shape)).ToArray());
        int nd = cs.Length;
        long inner = cs[nd - 1], outer = 1;
        for (int d = 0; d < nd - 1; d++) outer *= cs[d];
        if (inner == 0 || outer == 0) return;
        long tilesPerRow = (inner + Tile - 1) / Tile;
        var bases = inputs.Select(x => (nint)x.Ptr<float>()).ToArray();
        nint outBase = (nint)o.Ptr<float>();
        Parallelism.For(outer * tilesPerRow, Tile * (_program.Length + _externals), (s, e) =>
        {
            float* scratch = (float*)NativeMemory.AlignedAlloc((nuint)((_externals + _program.Length) * Tile * sizeof(float)), 64);
            try
            {
                for (long t = s; t < e; t++)
                {
                    long row = t / tilesPerRow;
                    long start = (t % tilesPerRow) * Tile;
                    int len = (int)Math.Min(Tile, inner - start);
                    RunTile(row, start, len, cs, cst, bases, outBase, scratch);
                }
            }
            finally
            {
                NativeMemory.AlignedFree(scratch);
            }
        });
    }

    public override bool HasGpuKernel => true;

    /// <summary>One GPU kernel for the whole chain, intermediates in registers; inputs that are neither full nor scalar are expanded first.</summary>
    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        if (_program.Length > Mlx.Kernels.Gpu.GpuDevice.FusedMaxSteps || inputs.Length > Mlx.Kernels.Gpu.GpuDevice.FusedMaxInputs)
        {
            EvalCpu(inputs, outputs);
            return;
        }
        int[] shape = o.ShapeRef;
        var device = GpuRuntime.Device;
        var operands = new (Mlx.Kernels.Gpu.GpuMemory Memory, bool Scalar, bool Scratch)[inputs.Length];
        for (int k = 0; k < inputs.Length; k++)
        {
            var x = inputs[k];
            if (x.Size == o.Size || x.Size <= 1)
            {
                operands[k] = GpuOps.Operand(x, DType.Float32);
                continue;
            }
            // A partial broadcast, e.g. (5, 1) against (5, 7): materialize it at the output's shape.
            var full = GpuRuntime.Scratch(o.NBytes);
            device.Copy(Mlx.Kernels.Gpu.GpuType.Float32, new Mlx.Kernels.Gpu.GpuOperand(GpuRuntime.Memory(x), x.Offset, shape, BroadcastStrides(x, shape)), Mlx.Kernels.Gpu.GpuType.Float32, full);
            operands[k] = (full, false, true);
        }
        var program = new int[_program.Length * 4];
        for (int j = 0; j < _program.Length; j++)
        {
            var step = _program[j];
            bool unary = step.Primitive is UnaryPrimitive;
            program[4 * j] = unary ? 0 : 1;
            program[4 * j + 1] = step.Primitive is UnaryPrimitive u ? (int)u.Op : (int)((BinaryPrimitive)step.Primitive).Op;
            program[4 * j + 2] = step.Args[0];
            program[4 * j + 3] = unary ? 0 : step.Args[1];
        }
        device.Fused(program, operands.Select(p => p.Memory).ToArray(), operands.Select(p => p.Scalar).ToArray(), GpuRuntime.AllocateOutput(o), o.Size);
        foreach (var p in operands)
        {
            GpuOps.Release(p);
        }
    }

    private void RunTile(long row, long start, int len, long[] cs, long[][] cst, nint[] bases, nint outBase, float* scratch)
    {
        int nd = cs.Length;
        Span<nint> ext = stackalloc nint[_externals];
        // A value that is the same along the tile (a scalar constant, a broadcast column) stays a scalar: binary
        // steps take TensorPrimitives' scalar forms instead of a filled tile (a pass saved per constant).
        Span<float> scalar = stackalloc float[_externals];
        Span<bool> isScalar = stackalloc bool[_externals];
        for (int k = 0; k < _externals; k++)
        {
            long stride = cst[k][nd - 1];
            float* p = (float*)bases[k] + Strided.OuterOffset(row, cs, cst[k]) + start * stride;
            if (stride == 1)
            {
                ext[k] = (nint)p;
            }
            else if (stride == 0)
            {
                scalar[k] = *p;
                isScalar[k] = true;
                ext[k] = 0;
            }
            else
            {
                var dst = new Span<float>(scratch + k * Tile, len);
                for (int i = 0; i < len; i++) dst[i] = p[i * stride];
                ext[k] = (nint)(scratch + k * Tile);
            }
        }
        float* results = scratch + _externals * Tile;
        long outOffset = row * cs[nd - 1] + start;
        for (int j = 0; j < _program.Length; j++)
        {
            if (_clampAt[j] && TryClamp(j, ext, scalar, isScalar, results, j + 2 == _program.Length ? (float*)outBase + outOffset : results + (j + 1) * Tile, len))
            {
                // min(max(x, lo), hi) in one pass over the tile (Mx.Clip) instead of two.
                j++;
                continue;
            }
            bool last = j == _program.Length - 1;
            var dst = last ? new Span<float>((float*)outBase + outOffset, len) : new Span<float>(results + j * Tile, len);
            var op = _program[j];
            bool s0 = op.Args[0] < 0 && isScalar[-1 - op.Args[0]];
            bool s1 = op.Args.Length > 1 && op.Args[1] < 0 && isScalar[-1 - op.Args[1]];
            if (s0 && (op.Args.Length == 1 || s1))
            {
                // Every operand a scalar: fill a tile with the first (rare: the trace folds constant chains).
                int k = -1 - op.Args[0];
                new Span<float>(scratch + k * Tile, len).Fill(scalar[k]);
                ext[k] = (nint)(scratch + k * Tile);
                isScalar[k] = false;
                s0 = false;
            }
            ReadOnlySpan<float> a0 = s0 ? default : Arg(op.Args[0], ext, results, len);
            ReadOnlySpan<float> a1 = op.Args.Length > 1 && !s1 ? Arg(op.Args[1], ext, results, len) : default;
            switch (op.Primitive)
            {
                case BinaryPrimitive b when s0:
                    BinaryWithScalar(b.Op, a1, scalar[-1 - op.Args[0]], scalarFirst: true, dst);
                    break;
                case BinaryPrimitive b when s1:
                    BinaryWithScalar(b.Op, a0, scalar[-1 - op.Args[1]], scalarFirst: false, dst);
                    break;
                case BinaryPrimitive b:
                    var x = a0;
                    var y = a1;
                    switch (b.Op)
                    {
                        case BinaryOp.Add: TensorPrimitives.Add(x, y, dst); break;
                        case BinaryOp.Subtract: TensorPrimitives.Subtract(x, y, dst); break;
                        case BinaryOp.Multiply: TensorPrimitives.Multiply(x, y, dst); break;
                        case BinaryOp.Divide: TensorPrimitives.Divide(x, y, dst); break;
                        case BinaryOp.Maximum: TensorPrimitives.Max(x, y, dst); break;
                        default: TensorPrimitives.Min(x, y, dst); break;
                    }
                    break;
                case UnaryPrimitive u:
                    var src = a0;
                    fixed (float* ps = src)
                    fixed (float* pd = dst)
                    {
                        UnaryFloat.Run((UnaryFloatFn)(int)u.Op, ps, pd, len);
                    }
                    break;
            }
        }
    }

    // Steps j and j + 1 as one clamp when, in this tile, exactly one of max's operands and min's other are scalars.
    private bool TryClamp(int j, Span<nint> ext, Span<float> scalar, Span<bool> isScalar, float* results, float* dst, int len)
    {
        int[] max = _program[j].Args, min = _program[j + 1].Args;
        bool s0 = max[0] < 0 && isScalar[-1 - max[0]], s1 = max[1] < 0 && isScalar[-1 - max[1]];
        int hiArg = min[0] == j ? min[1] : min[0];
        if (s0 == s1 || !isScalar[-1 - hiArg])
        {
            return false;
        }
        var x = Arg(s0 ? max[1] : max[0], ext, results, len);
        Elementwise.Clamp(x, scalar[-1 - (s0 ? max[0] : max[1])], scalar[-1 - hiArg], new Span<float>(dst, len));
        return true;
    }

    /// <summary>op(x, y) with x a span and y a scalar, or op(y, x) when <paramref name="scalarFirst"/>.</summary>
    private static void BinaryWithScalar(BinaryOp op, ReadOnlySpan<float> x, float y, bool scalarFirst, Span<float> dst)
    {
        switch (op)
        {
            case BinaryOp.Add: TensorPrimitives.Add(x, y, dst); break;
            case BinaryOp.Multiply: TensorPrimitives.Multiply(x, y, dst); break;
            case BinaryOp.Maximum: TensorPrimitives.Max(x, y, dst); break;
            case BinaryOp.Minimum: TensorPrimitives.Min(x, y, dst); break;
            case BinaryOp.Subtract when scalarFirst: TensorPrimitives.Subtract(y, x, dst); break;
            case BinaryOp.Subtract: TensorPrimitives.Subtract(x, y, dst); break;
            case BinaryOp.Divide when scalarFirst: TensorPrimitives.Divide(y, x, dst); break;
            default: TensorPrimitives.Divide(x, y, dst); break;
        }
    }

    private static ReadOnlySpan<float> Arg(int a, Span<nint> ext, float* results, int len) =>
        a < 0 ? new ReadOnlySpan<float>((float*)ext[-1 - a], len) : new ReadOnlySpan<float>(results + a * Tile, len);

    private static long[] BroadcastStrides(MxArray x, int[] shape)
    {
        var s = new long[shape.Length];
        int lead = shape.Length - x.NDim;
        for (int i = 0; i < x.NDim; i++) s[lead + i] = x.ShapeRef[i] == 1 && shape[lead + i] != 1 ? 0 : x.Strides[i];
        return s;
    }

    /// <summary>The chain as separate nodes again, over <paramref name="externals"/>: what its derivatives are taken of.</summary>
    private MxArray Unfused(MxArray[] externals, int[] shape)
    {
        var results = new MxArray[_program.Length];
        for (int j = 0; j < _program.Length; j++)
        {
            var args = _program[j].Args.Select(a => a < 0 ? externals[-1 - a] : results[a]).ToArray();
            results[j] = MxArray.Create(shape, DType.Float32, _program[j].Primitive, args);
        }
        return results[^1];
    }

    // A compiled function stays differentiable (as in MLX): the derivative is that of the unfused chain.
    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        int[] shape = outputs[0].ShapeRef;
        return RuleHelpers.VjpOfComposition(xs => Unfused(xs, shape), primals, cotangents, argnums);
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs)
    {
        int[] shape = outputs[0].ShapeRef;
        return RuleHelpers.JvpOfComposition(xs => Unfused(xs, shape), primals, tangents, argnums);
    }
}
