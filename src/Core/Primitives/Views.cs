namespace Mlx;

/// <summary>Reshape: a view when the input's memory allows it, else a row-major copy.</summary>
internal sealed class ReshapePrimitive : Primitive
{
    public override string Name => "Reshape";

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        if (TryView(inputs[0], outputs[0]))
        {
            return;
        }
        var c = Cast.Materialize(inputs[0], inputs[0].DType);
        outputs[0].SetView(c, MxArray.RowMajorStrides(outputs[0].ShapeRef), 0);
    }

    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        var o = outputs[0];
        if (TryView(x, o))
        {
            return;
        }
        if (!GpuOps.Supports(x.DType))
        {
            EvalCpu(inputs, outputs);
            return;
        }
        var t = GpuOps.TypeOf(x.DType);
        GpuRuntime.Device.Copy(t, AxisLayout.InPlace(x), t, GpuRuntime.AllocateOutput(o));
    }

    // Views share the input's buffer when its memory allows the new shape.
    private static bool TryView(MxArray x, MxArray o)
    {
        if (x.IsRowContiguous)
        {
            o.SetView(x, MxArray.RowMajorStrides(o.ShapeRef), x.Offset);
            return true;
        }
        if (NoCopyStrides(x.ShapeRef, x.Strides, o.ShapeRef) is { } strides)
        {
            o.SetView(x, strides, x.Offset);
            return true;
        }
        return false;
    }

    /// <summary>
    /// Strides that view strided memory in a new shape without copying (NumPy's attempt_nocopy_reshape), or null:
    /// groups of old axes that multiply to groups of new axes must each be contiguous among themselves.
    /// </summary>
    internal static long[]? NoCopyStrides(int[] oldShape, long[] oldStrides, int[] newShape)
    {
        if (oldShape.Contains(0))
        {
            return MxArray.RowMajorStrides(newShape);
        }
        var os = new List<int>();
        var ost = new List<long>();
        for (int i = 0; i < oldShape.Length; i++)
        {
            if (oldShape[i] != 1)
            {
                os.Add(oldShape[i]);
                ost.Add(oldStrides[i]);
            }
        }
        var result = new long[newShape.Length];
        int oi = 0, oj = 1, ni = 0, nj = 1;
        int oldN = os.Count, newN = newShape.Length;
        while (ni < newN && oi < oldN)
        {
            long np = newShape[ni], op = os[oi];
            while (np != op)
            {
                if (np < op)
                {
                    np *= newShape[nj++];
                }
                else
                {
                    op *= os[oj++];
                }
            }
            for (int k = oi; k < oj - 1; k++)
            {
                if (ost[k] != os[k + 1] * ost[k + 1])
                {
                    return null;
                }
            }
            result[nj - 1] = ost[oj - 1];
            for (int k = nj - 1; k > ni; k--)
            {
                result[k - 1] = result[k] * newShape[k];
            }
            ni = nj++;
            oi = oj++;
        }
        // Trailing size-1 axes of the new shape.
        for (int k = ni; k < newN; k++)
        {
            result[k] = 1;
        }
        return result;
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        new[] { Mx.Reshape(cotangents[0], primals[0].ShapeRef) };

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        new[] { Mx.Reshape(tangents[0], outputs[0].ShapeRef) };

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        new[] { Mx.Reshape(inputs[0], new[] { inputs[0].ShapeRef[0] }.Concat(outputs[0].ShapeRef).ToArray()) };
}

internal sealed class TransposePrimitive : Primitive
{
    public TransposePrimitive(int[] axes) => Axes = axes;

    public int[] Axes { get; }

    public override string Name => "Transpose";

    // A view: the output shares the input's buffer (on the host, the device or both), so no data moves on any device.
    public override bool HasGpuKernel => true;

    public override bool IsEquivalent(Primitive other) => other is TransposePrimitive p && p.Axes.SequenceEqual(Axes);

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        var strides = new long[Axes.Length];
        for (int i = 0; i < Axes.Length; i++)
        {
            strides[i] = x.Strides[Axes[i]];
        }
        outputs[0].SetView(x, strides, x.Offset);
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        var inverse = new int[Axes.Length];
        for (int i = 0; i < Axes.Length; i++)
        {
            inverse[Axes[i]] = i;
        }
        var g = cotangents[0];
        int nd = Axes.Length;
        if (nd >= 2 && g.PendingNode is { Primitive: MatmulPrimitive } product && SwapsLastTwo(Axes))
        {
            // (A B)^T as B^T A^T: a contiguous result instead of a transposed view of one. This is the weight
            // gradient of x @ W.T (Linear), which the optimizer would otherwise read with a stride.
            return new[] { Mx.Matmul(Mx.SwapAxes(product.Inputs[1], -1, -2), Mx.SwapAxes(product.Inputs[0], -1, -2)) };
        }
        return new[] { Mx.Transpose(g, inverse) };
    }

    private static bool SwapsLastTwo(int[] axes)
    {
        int nd = axes.Length;
        for (int i = 0; i < nd - 2; i++)
        {
            if (axes[i] != i) return false;
        }
        return axes[nd - 2] == nd - 1 && axes[nd - 1] == nd - 2;
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) => new[] { Mx.Transpose(tangents[0], Axes) };

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs) =>
        new[] { Mx.Transpose(inputs[0], new[] { 0 }.Concat(Axes.Select(a => a + 1)).ToArray()) };
}

/// <summary>Broadcast to a larger shape: stride 0 on the repeated dims.</summary>
internal sealed class BroadcastPrimitive : Primitive
{
    public override string Name => "Broadcast";

    // A view: the output shares the input's buffer (on the host, the device or both), so no data moves on any device.
    public override bool HasGpuKernel => true;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        var o = outputs[0];
        int[] shape = o.ShapeRef;
        int lead = shape.Length - x.NDim;
        var strides = new long[shape.Length];
        for (int i = 0; i < x.NDim; i++)
        {
            strides[lead + i] = x.ShapeRef[i] == 1 && shape[lead + i] != 1 ? 0 : x.Strides[i];
        }
        o.SetView(x, strides, x.Offset);
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        new[] { Mx.SumToShape(cotangents[0], primals[0].ShapeRef) };

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        new[] { Mx.BroadcastTo(tangents[0], outputs[0].ShapeRef) };

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs)
    {
        var x = inputs[0];
        int b = x.ShapeRef[0];
        var target = outputs[0].ShapeRef;
        int pad = target.Length - (x.NDim - 1);
        var aligned = Mx.Reshape(x, new[] { b }.Concat(Enumerable.Repeat(1, pad)).Concat(x.ShapeRef.Skip(1)).ToArray());
        return new[] { Mx.BroadcastTo(aligned, new[] { b }.Concat(target).ToArray()) };
    }
}

/// <summary>A strided slice (NumPy basic indexing): start, stop and step per axis, already normalized.</summary>
internal sealed class SlicePrimitive : Primitive
{
    public SlicePrimitive(int[] start, int[] stop, int[] step)
    {
        Start = start;
        Stop = stop;
        Step = step;
    }

    public int[] Start { get; }
    public int[] Stop { get; }
    public int[] Step { get; }

    public override string Name => "Slice";

    // A view: the output shares the input's buffer (on the host, the device or both), so no data moves on any device.
    public override bool HasGpuKernel => true;

    public override bool IsEquivalent(Primitive other) =>
        other is SlicePrimitive p && p.Start.SequenceEqual(Start) && p.Stop.SequenceEqual(Stop) && p.Step.SequenceEqual(Step);

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        var o = outputs[0];
        long offset = x.Offset;
        var strides = new long[x.NDim];
        for (int i = 0; i < x.NDim; i++)
        {
            if (o.ShapeRef[i] > 0)
            {
                offset += Start[i] * x.Strides[i];
            }
            strides[i] = x.Strides[i] * Step[i];
        }
        o.SetView(x, strides, o.Size == 0 ? x.Offset : offset);
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs) =>
        new[] { Mx.SliceUpdateRaw(Mx.ZerosLike(primals[0]), cotangents[0], Start, Stop, Step) };

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        new[] { Mx.SliceRaw(tangents[0], Start, Stop, Step) };

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs)
    {
        int b = inputs[0].ShapeRef[0];
        return new[] { Mx.SliceRaw(inputs[0], Start.Prepend(0).ToArray(), Stop.Prepend(b).ToArray(), Step.Prepend(1).ToArray()) };
    }
}

/// <summary>Writes an update into a copy of its input at a strided slice.</summary>
internal sealed unsafe class SliceUpdatePrimitive : Primitive
{
    public SliceUpdatePrimitive(int[] start, int[] stop, int[] step)
    {
        Start = start;
        Stop = stop;
        Step = step;
    }

    public int[] Start { get; }
    public int[] Stop { get; }
    public int[] Step { get; }

    public override string Name => "SliceUpdate";

    public override bool IsEquivalent(Primitive other) =>
        other is SliceUpdatePrimitive p && p.Start.SequenceEqual(Start) && p.Stop.SequenceEqual(Stop) && p.Step.SequenceEqual(Step);

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        var update = inputs[1];
        var o = outputs[0];
        o.AllocateData();
        Cast.Run(x, o);
        // A view of the output at the slice, filled from the (broadcast) update.
        long offset = 0;
        var strides = new long[x.NDim];
        var sliceShape = Mx.SliceShape(x.ShapeRef, Start, Stop, Step);
        for (int i = 0; i < x.NDim; i++)
        {
            offset += Start[i] * o.Strides[i];
            strides[i] = o.Strides[i] * Step[i];
        }
        if (sliceShape.Aggregate(1L, (a, b) => a * b) == 0)
        {
            return;
        }
        var src = Cast.Contiguous(update);
        CopyInto(src, (byte*)o.Buffer.Pointer + offset * o.ItemSize, sliceShape, strides, o.ItemSize);
        if (!ReferenceEquals(src, update))
        {
            src.Buffer.Release();
        }
    }

    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        var update = inputs[1];
        var o = outputs[0];
        if (!GpuOps.Supports(o.DType))
        {
            EvalCpu(inputs, outputs);
            return;
        }
        var dst = GpuRuntime.AllocateOutput(o);
        GpuRuntime.Device.Copy(GpuOps.TypeOf(x.DType), AxisLayout.InPlace(x), GpuOps.TypeOf(o.DType), dst);
        if (update.Size == 0)
        {
            return;
        }
        // The update, at its own strides, written through a strided view of the output at the slice.
        long offset = 0;
        var strides = new long[x.NDim];
        for (int i = 0; i < x.NDim; i++)
        {
            offset += Start[i] * o.Strides[i];
            strides[i] = o.Strides[i] * Step[i];
        }
        var (from, to) = Kernels.Gpu.GpuDevice.PairLayout(update.ShapeRef, update.Strides, update.Offset, strides, offset);
        GpuRuntime.Device.CopyStrided(o.ItemSize, GpuRuntime.Memory(update), from, dst, to, update.Size);
    }

    // Scatters contiguous src into a strided destination.
    internal static void CopyInto(MxArray src, byte* dst, int[] shape, long[] strides, int itemSize)
    {
        switch (itemSize)
        {
            case 1: Kernels.Strided.CopyInto(src.Ptr<byte>(), shape, strides, dst); break;
            case 2: Kernels.Strided.CopyInto(src.Ptr<ushort>(), shape, strides, (ushort*)dst); break;
            case 4: Kernels.Strided.CopyInto(src.Ptr<uint>(), shape, strides, (uint*)dst); break;
            default: Kernels.Strided.CopyInto(src.Ptr<ulong>(), shape, strides, (ulong*)dst); break;
        }
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        var g = cotangents[0];
        var result = new MxArray[argnums.Length];
        for (int k = 0; k < argnums.Length; k++)
        {
            result[k] = argnums[k] == 0
                ? Mx.SliceUpdateRaw(g, Mx.Zeros(Mx.SliceShape(primals[0].ShapeRef, Start, Stop, Step), g.DType), Start, Stop, Step)
                : Mx.SumToShape(Mx.SliceRaw(g, Start, Stop, Step), primals[1].ShapeRef);
        }
        return result;
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs) =>
        new[]
        {
            Mx.SliceUpdateRaw(RuleHelpers.TangentOrZeros(0, primals, tangents, argnums), RuleHelpers.TangentOrZeros(1, primals, tangents, argnums), Start, Stop, Step),
        };

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs)
    {
        int b = RuleHelpers.BatchSize(inputs, batched);
        // The update broadcasts against the batched slice, so an unbatched one needs only a size-1 axis.
        var u = batched[1] ? inputs[1] : Mx.ExpandDims(inputs[1], 0);
        return new[] { Mx.SliceUpdateRaw(RuleHelpers.Lift(inputs[0], batched[0], b), u, Start.Prepend(0).ToArray(), Stop.Prepend(b).ToArray(), Step.Prepend(1).ToArray()) };
    }
}

/// <summary>as_strided: a view of the row-major input with arbitrary strides and offset (elements).</summary>
// No vmap rule, as in MLX: the strides address one element's memory, so vmap maps it by a loop.
internal sealed class AsStridedPrimitive : Primitive
{
    public AsStridedPrimitive(long[] strides, long offset)
    {
        StridesValue = strides;
        OffsetValue = offset;
    }

    public long[] StridesValue { get; }
    public long OffsetValue { get; }

    public override string Name => "AsStrided";

    public override bool IsEquivalent(Primitive other) =>
        other is AsStridedPrimitive p && p.StridesValue.SequenceEqual(StridesValue) && p.OffsetValue == OffsetValue;

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = Cast.Contiguous(inputs[0]);
        outputs[0].SetView(x, (long[])StridesValue.Clone(), x.Offset + OffsetValue);
    }

    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        if (x.IsRowContiguous)
        {
            outputs[0].SetView(x, (long[])StridesValue.Clone(), x.Offset + OffsetValue);
            return;
        }
        if (!GpuOps.Supports(x.DType))
        {
            EvalCpu(inputs, outputs);
            return;
        }
        var c = GpuRuntime.NewArray(x.ShapeRef, x.DType);
        var t = GpuOps.TypeOf(x.DType);
        GpuRuntime.Device.Copy(t, AxisLayout.InPlace(x), t, GpuRuntime.Memory(c));
        outputs[0].SetView(c, (long[])StridesValue.Clone(), OffsetValue);
    }
}

/// <summary>where(cond, a, b) over operands broadcast to one shape.</summary>
internal sealed unsafe class SelectPrimitive : Primitive
{
    public override string Name => "Select";

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var c = inputs[0];
        var a = inputs[1];
        var b = inputs[2];
        var o = outputs[0];
        o.AllocateData();
        if (o.Size == 0)
        {
            return;
        }
        var shape = o.ShapeRef;
        switch (o.ItemSize)
        {
            case 1: Kernels.Elementwise.Select(c.Ptr<bool>(), c.Strides, a.Ptr<byte>(), a.Strides, b.Ptr<byte>(), b.Strides, o.Ptr<byte>(), shape); break;
            case 2: Kernels.Elementwise.Select(c.Ptr<bool>(), c.Strides, a.Ptr<ushort>(), a.Strides, b.Ptr<ushort>(), b.Strides, o.Ptr<ushort>(), shape); break;
            case 4: Kernels.Elementwise.Select(c.Ptr<bool>(), c.Strides, a.Ptr<uint>(), a.Strides, b.Ptr<uint>(), b.Strides, o.Ptr<uint>(), shape); break;
            default: Kernels.Elementwise.Select(c.Ptr<bool>(), c.Strides, a.Ptr<ulong>(), a.Strides, b.Ptr<ulong>(), b.Strides, o.Ptr<ulong>(), shape); break;
        }
    }

    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var o = outputs[0];
        // Selection moves bits: complex64 works as any 8-byte type.
        if (o.DType != DType.Complex64 && !GpuOps.Supports(o.DType))
        {
            EvalCpu(inputs, outputs);
            return;
        }
        var c = GpuOps.Operand(inputs[0], DType.Bool);
        var a = GpuOps.Operand(inputs[1], o.DType);
        var b = GpuOps.Operand(inputs[2], o.DType);
        GpuRuntime.Device.Where(o.ItemSize, c.Memory, c.Scalar, a.Memory, a.Scalar, b.Memory, b.Scalar, GpuRuntime.AllocateOutput(o), o.Size);
        GpuOps.Release(c);
        GpuOps.Release(a);
        GpuOps.Release(b);
    }

    public override MxArray[] Jvp(MxArray[] primals, MxArray[] tangents, int[] argnums, MxArray[] outputs)
    {
        var zero = Mx.Zeros(System.Array.Empty<int>(), outputs[0].DType);
        int ka = System.Array.IndexOf(argnums, 1), kb = System.Array.IndexOf(argnums, 2);
        return new[] { Mx.Where(primals[0], ka >= 0 ? tangents[ka] : zero, kb >= 0 ? tangents[kb] : zero) };
    }

    public override MxArray[] Vjp(MxArray[] primals, MxArray[] cotangents, int[] argnums, MxArray[] outputs)
    {
        var g = cotangents[0];
        // A 0-d zero broadcasts inside Where: no full-size array of zeros.
        var zeros = Mx.Zeros(System.Array.Empty<int>(), g.DType);
        return argnums.Select(k => k switch
        {
            0 => Mx.ZerosLike(primals[0]),
            1 => Mx.Where(primals[0], g, zeros),
            _ => Mx.Where(primals[0], zeros, g),
        }).ToArray();
    }

    public override MxArray[]? Vmap(MxArray[] inputs, bool[] batched, MxArray[] outputs)
    {
        int b = inputs.Where((_, i) => batched[i]).First().ShapeRef[0];
        var shape = new[] { b }.Concat(outputs[0].ShapeRef).ToArray();
        var lifted = inputs.Select((x, i) => Mx.BroadcastTo(batched[i] ? x : Mx.ExpandDims(x, 0), shape)).ToArray();
        return new[] { MxArray.Create(shape, outputs[0].DType, this, lifted) };
    }
}
