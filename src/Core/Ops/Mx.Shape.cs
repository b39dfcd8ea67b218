namespace Mlx;

public static partial class Mx
{
    /// <summary>A computed dimension, refused with its value when it does not fit in an int32 dimension.</summary>
    private static int Dim(long value, string op) =>
        value is >= 0 and <= int.MaxValue ? (int)value : throw new OverflowException($"{op}: dimension {value} does not fit in a 32-bit dimension.");

    /// <summary>Reshapes; one dim may be -1 (inferred). A view when the memory allows it.</summary>
    public static MxArray Reshape(MxArray a, int[] shape, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var resolved = (int[])shape.Clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < resolved.Length; i++)
        {
            if (resolved[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException("Reshape can infer only one dimension.");
                infer = i;
            }
            else if (resolved[i] < 0)
            {
                throw new ArgumentException($"Invalid dimension {resolved[i]} in reshape.");
            }
            else
            {
                try
                {
                    known = checked(known * resolved[i]);
                }
                catch (OverflowException)
                {
                    throw new OverflowException($"The shape {MxArray.FormatShape(shape)} has more elements than can be counted in 64 bits.");
                }
            }
        }
        long size = a.Size;
        if (infer >= 0)
        {
            if (known == 0 || size % known != 0)
            {
                throw new ArgumentException($"Cannot reshape an array of size {size} into {MxArray.FormatShape(shape)}.");
            }
            long inferred = size / known;
            if (inferred > int.MaxValue) throw new OverflowException($"Inferred dimension {inferred} does not fit in int32.");
            resolved[infer] = (int)inferred;
        }
        if (Shapes.CheckedSize(resolved) != size)
        {
            throw new ArgumentException($"Cannot reshape an array of shape {MxArray.FormatShape(a.ShapeRef)} into {MxArray.FormatShape(shape)}.");
        }
        if (resolved.SequenceEqual(a.ShapeRef))
        {
            return a;
        }
        return MxArray.Create(resolved, a.DType, new ReshapePrimitive(), a);
    }

    public static MxArray Flatten(MxArray a, int startAxis = 0, int endAxis = -1, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (a.NDim == 0) return Reshape(a, new[] { 1 });
        int s = Shapes.Axis(startAxis, a.NDim), e = Shapes.Axis(endAxis, a.NDim);
        if (s > e) throw new ArgumentException("flatten: startAxis must not come after endAxis.");
        var shape = a.ShapeRef.Take(s).Append(Dim(a.ShapeRef[s..(e + 1)].Aggregate(1L, (x, y) => x * y), "flatten")).Concat(a.ShapeRef.Skip(e + 1)).ToArray();
        return Reshape(a, shape, stream);
    }

    public static MxArray Unflatten(MxArray a, int axis, int[] shape, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        int ax = Shapes.Axis(axis, a.NDim);
        var newShape = a.ShapeRef.Take(ax).Concat(shape).Concat(a.ShapeRef.Skip(ax + 1)).ToArray();
        return Reshape(a, newShape, stream);
    }

    public static MxArray Squeeze(MxArray a, int[]? axes = null, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var drop = axes is null ? Enumerable.Range(0, a.NDim).Where(i => a.ShapeRef[i] == 1).ToArray() : Shapes.Axes(axes, a.NDim);
        foreach (int ax in drop)
        {
            if (a.ShapeRef[ax] != 1) throw new ArgumentException($"Cannot squeeze axis {ax} of size {a.ShapeRef[ax]}.");
        }
        return Reshape(a, Enumerable.Range(0, a.NDim).Where(i => !drop.Contains(i)).Select(i => a.ShapeRef[i]).ToArray(), stream);
    }

    public static MxArray Squeeze(MxArray a, int axis, StreamOrDevice? stream = null) => Squeeze(a, new[] { axis }, stream);

    public static MxArray ExpandDims(MxArray a, int[] axes, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        int nd = a.NDim + axes.Length;
        var norm = Shapes.Axes(axes, nd);
        var shape = new int[nd];
        int src = 0;
        for (int i = 0; i < nd; i++)
        {
            shape[i] = norm.Contains(i) ? 1 : a.ShapeRef[src++];
        }
        return Reshape(a, shape, stream);
    }

    public static MxArray ExpandDims(MxArray a, int axis, StreamOrDevice? stream = null) => ExpandDims(a, new[] { axis }, stream);

    /// <summary>Permutes axes (reverses them when <paramref name="axes"/> is null): a view.</summary>
    public static MxArray Transpose(MxArray a, int[]? axes = null, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var perm = axes is null ? Enumerable.Range(0, a.NDim).Reverse().ToArray() : Shapes.Axes(axes, a.NDim);
        if (perm.Length != a.NDim)
        {
            throw new ArgumentException($"transpose needs {a.NDim} axes, got {perm.Length}.");
        }
        if (perm.Select((p, i) => p == i).All(x => x))
        {
            return a;
        }
        return MxArray.Create(perm.Select(p => a.ShapeRef[p]).ToArray(), a.DType, new TransposePrimitive(perm), a);
    }

    public static MxArray SwapAxes(MxArray a, int axis1, int axis2, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        int i = Shapes.Axis(axis1, a.NDim), j = Shapes.Axis(axis2, a.NDim);
        var perm = Enumerable.Range(0, a.NDim).ToArray();
        (perm[i], perm[j]) = (perm[j], perm[i]);
        return Transpose(a, perm, stream);
    }

    public static MxArray MoveAxis(MxArray a, int source, int destination, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        int s = Shapes.Axis(source, a.NDim), d = Shapes.Axis(destination, a.NDim);
        var perm = Enumerable.Range(0, a.NDim).Where(i => i != s).ToList();
        perm.Insert(d, s);
        return Transpose(a, perm.ToArray(), stream);
    }

    public static MxArray BroadcastTo(MxArray a, int[] shape, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (a.ShapeRef.SequenceEqual(shape))
        {
            return a;
        }
        var target = Shapes.Broadcast(a.ShapeRef, shape);
        if (!target.SequenceEqual(shape))
        {
            throw new ArgumentException($"Cannot broadcast shape {MxArray.FormatShape(a.ShapeRef)} to {MxArray.FormatShape(shape)}.");
        }
        Shapes.CheckedSize(shape);
        return MxArray.Create((int[])shape.Clone(), a.DType, new BroadcastPrimitive(), a);
    }

    /// <summary>The broadcast of <paramref name="a"/> against <paramref name="b"/>'s shape (shape only).</summary>
    internal static MxArray Broadcast(MxArray a, MxArray b) => BroadcastTo(a, Shapes.Broadcast(a.ShapeRef, b.ShapeRef));

    public static MxArray[] BroadcastArrays(params MxArray[] arrays)
    {
        var shape = arrays.Aggregate(System.Array.Empty<int>(), (s, x) => Shapes.Broadcast(s, x.ShapeRef));
        return arrays.Select(x => BroadcastTo(x, shape)).ToArray();
    }

    /// <summary>Sums <paramref name="a"/> down to <paramref name="shape"/> (the adjoint of broadcasting).</summary>
    internal static MxArray SumToShape(MxArray a, int[] shape)
    {
        if (a.ShapeRef.SequenceEqual(shape))
        {
            return a;
        }
        int lead = a.NDim - shape.Length;
        var axes = new List<int>();
        for (int i = 0; i < a.NDim; i++)
        {
            if (i < lead || (shape[i - lead] == 1 && a.ShapeRef[i] != 1))
            {
                axes.Add(i);
            }
        }
        var r = Sum(a, axes.ToArray(), keepDims: true);
        return Reshape(r, shape);
    }

    public static MxArray Concatenate(MxArray[] arrays, int axis = 0, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (arrays.Length == 0) throw new ArgumentException("concatenate needs at least one array.");
        int nd = arrays[0].NDim;
        int ax = Shapes.Axis(axis, nd);
        var dt = arrays.Skip(1).Aggregate(arrays[0].DType, (d, x) => DTypes.Promote(d, x.DType));
        var shape = (int[])arrays[0].ShapeRef.Clone();
        long total = 0;
        foreach (var x in arrays)
        {
            if (x.NDim != nd || Enumerable.Range(0, nd).Any(i => i != ax && x.ShapeRef[i] != shape[i]))
            {
                throw new ArgumentException($"concatenate: shape {MxArray.FormatShape(x.ShapeRef)} does not match {MxArray.FormatShape(shape)} off axis {ax}.");
            }
            total += x.ShapeRef[ax];
        }
        shape[ax] = Dim(total, "concatenate");
        return MxArray.Create(shape, dt, new ConcatenatePrimitive(ax), arrays.Select(x => AsType(x, dt)).ToArray());
    }

    public static MxArray Stack(MxArray[] arrays, int axis = 0, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (arrays.Length == 0) throw new ArgumentException("stack needs at least one array.");
        int ax = Shapes.Axis(axis, arrays[0].NDim + 1);
        return Concatenate(arrays.Select(x => ExpandDims(x, ax)).ToArray(), ax, stream);
    }

    /// <summary>Splits into <paramref name="sections"/> equal parts along <paramref name="axis"/>.</summary>
    public static MxArray[] Split(MxArray a, int sections, int axis = 0, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        int ax = Shapes.Axis(axis, a.NDim);
        if (sections <= 0 || a.ShapeRef[ax] % sections != 0)
        {
            throw new ArgumentException($"Array of size {a.ShapeRef[ax]} on axis {ax} cannot be split into {sections} equal parts.");
        }
        int step = a.ShapeRef[ax] / sections;
        return Split(a, Enumerable.Range(1, sections - 1).Select(i => i * step).ToArray(), ax, stream);
    }

    /// <summary>Splits at the given indices along <paramref name="axis"/>.</summary>
    public static MxArray[] Split(MxArray a, int[] indices, int axis = 0, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        int ax = Shapes.Axis(axis, a.NDim);
        var bounds = new[] { 0 }.Concat(indices.Select(i => Math.Clamp(i < 0 ? i + a.ShapeRef[ax] : i, 0, a.ShapeRef[ax]))).Append(a.ShapeRef[ax]).ToArray();
        var result = new MxArray[bounds.Length - 1];
        for (int i = 0; i < result.Length; i++)
        {
            var start = new int[a.NDim];
            var stop = (int[])a.ShapeRef.Clone();
            start[ax] = bounds[i];
            stop[ax] = Math.Max(bounds[i], bounds[i + 1]);
            result[i] = Slice(a, start, stop);
        }
        return result;
    }

    public static MxArray Repeat(MxArray a, int repeats, int? axis = null, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (axis is null)
        {
            return Repeat(Flatten(a), repeats, 0, stream);
        }
        int ax = Shapes.Axis(axis.Value, a.NDim);
        var expanded = ExpandDims(a, ax + 1);
        var shape = (int[])expanded.ShapeRef.Clone();
        shape[ax + 1] = repeats;
        var b = BroadcastTo(expanded, shape);
        var outShape = (int[])a.ShapeRef.Clone();
        outShape[ax] = Dim((long)outShape[ax] * repeats, "repeat");
        return Reshape(Contiguous(b), outShape, stream);
    }

    public static MxArray Tile(MxArray a, int[] reps, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        int nd = Math.Max(a.NDim, reps.Length);
        var x = Reshape(a, Enumerable.Repeat(1, nd - a.NDim).Concat(a.ShapeRef).ToArray());
        var r = Enumerable.Repeat(1, nd - reps.Length).Concat(reps).ToArray();
        // (r0, d0, r1, d1, ...) broadcast then merged.
        var interleaved = new List<int>();
        var bshape = new List<int>();
        for (int i = 0; i < nd; i++)
        {
            interleaved.Add(1);
            interleaved.Add(x.ShapeRef[i]);
            bshape.Add(r[i]);
            bshape.Add(x.ShapeRef[i]);
        }
        var b = BroadcastTo(Reshape(x, interleaved.ToArray()), bshape.ToArray());
        return Reshape(Contiguous(b), Enumerable.Range(0, nd).Select(i => Dim((long)r[i] * x.ShapeRef[i], "tile")).ToArray(), stream);
    }

    /// <summary>Pads with a constant. <paramref name="padWidth"/> is (before, after) per axis.</summary>
    public static MxArray Pad(MxArray a, (int Before, int After)[] padWidth, double constantValue = 0, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (padWidth.Length == 1 && a.NDim > 1) padWidth = Enumerable.Repeat(padWidth[0], a.NDim).ToArray();
        if (padWidth.Length != a.NDim) throw new ArgumentException($"pad needs {a.NDim} (before, after) pairs.");
        if (padWidth.Any(p => p.Before < 0 || p.After < 0)) throw new ArgumentException("pad widths must be non-negative.");
        var shape = a.ShapeRef.Select((d, i) => Dim((long)d + padWidth[i].Before + padWidth[i].After, "pad")).ToArray();
        var full = Full(shape, Array(constantValue, a.DType), a.DType);
        var start = padWidth.Select(p => p.Before).ToArray();
        var stop = a.ShapeRef.Select((d, i) => d + padWidth[i].Before).ToArray();
        return SliceUpdate(full, a, start, stop);
    }

    public static MxArray Pad(MxArray a, int padWidth, double constantValue = 0, StreamOrDevice? stream = null) =>
        Pad(a, new[] { (padWidth, padWidth) }, constantValue, stream);

    public static MxArray AsStrided(MxArray a, int[] shape, long[] strides, long offset = 0, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (shape.Length != strides.Length) throw new ArgumentException("as_strided: shape and strides differ in length.");
        // Refuse views that reach outside the buffer: managed code must not read past it.
        long lo = offset, hi = offset;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == 0) { lo = hi = offset; break; }
            long span = (shape[i] - 1) * strides[i];
            if (span < 0) lo += span; else hi += span;
        }
        if (Shapes.CheckedSize(shape) > 0 && (lo < 0 || hi >= a.Size))
        {
            throw new ArgumentException($"as_strided: the view reaches elements {lo}..{hi}, outside an array of {a.Size} elements.");
        }
        return MxArray.Create((int[])shape.Clone(), a.DType, new AsStridedPrimitive((long[])strides.Clone(), offset), a);
    }

    public static MxArray AtLeast1d(MxArray a, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return a.NDim >= 1 ? a : Reshape(a, new[] { 1 });
    }

    public static MxArray AtLeast2d(MxArray a, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return a.NDim >= 2 ? a : Reshape(a, a.NDim == 0 ? new[] { 1, 1 } : new[] { 1, a.ShapeRef[0] });
    }

    public static MxArray AtLeast3d(MxArray a, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return a.NDim >= 3 ? a : Reshape(a, a.NDim switch
    {
        0 => new[] { 1, 1, 1 },
        1 => new[] { 1, a.ShapeRef[0], 1 },
        _ => new[] { a.ShapeRef[0], a.ShapeRef[1], 1 },
    });
    }

    /// <summary>Reinterprets the bytes as another dtype (the last axis scales with the item size).</summary>
    public static MxArray View(MxArray a, DType dtype, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (dtype.Size() == a.ItemSize)
        {
            return MxArray.Create(a.ShapeRef, dtype, new ViewPrimitive(), Contiguous(a));
        }
        if (a.NDim == 0) throw new ArgumentException("view to a dtype of another size needs at least one dimension.");
        long lastBytes = (long)a.ShapeRef[^1] * a.ItemSize;
        if (lastBytes % dtype.Size() != 0) throw new ArgumentException($"The last axis ({lastBytes} bytes) does not divide into {dtype.Name()} elements.");
        var shape = (int[])a.ShapeRef.Clone();
        shape[^1] = (int)(lastBytes / dtype.Size());
        return MxArray.Create(shape, dtype, new ViewPrimitive(), Contiguous(a));
    }

    public static MxArray Roll(MxArray a, int shift, int? axis = null, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (axis is null)
        {
            return Reshape(Roll(Flatten(a), shift, 0), a.ShapeRef);
        }
        int ax = Shapes.Axis(axis.Value, a.NDim);
        int n = a.ShapeRef[ax];
        if (n == 0) return a;
        int s = ((shift % n) + n) % n;
        if (s == 0) return a;
        var parts = Split(a, new[] { n - s }, ax);
        return Concatenate(new[] { parts[1], parts[0] }, ax, stream);
    }
}

internal sealed class ViewPrimitive : Primitive
{
    public override string Name => "View";

    public override bool HasGpuKernel => true;

    public override void EvalGpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        if (x.Offset * x.ItemSize % outputs[0].ItemSize != 0)
        {
            // As on the CPU, a misaligned start is reinterpreted from a fresh copy, made on the device.
            var copy = GpuRuntime.NewArray(x.ShapeRef, x.DType);
            var bits = GpuOps.BitsType(x.ItemSize);
            GpuRuntime.Device.Copy(bits, new Mlx.Kernels.Gpu.GpuOperand(GpuRuntime.Memory(x), x.Offset, x.ShapeRef, x.Strides), bits, GpuRuntime.Memory(copy));
            x = copy;
        }
        outputs[0].SetData(x.Buffer, MxArray.RowMajorStrides(outputs[0].ShapeRef), x.Offset * x.ItemSize / outputs[0].ItemSize);
    }

    public override void EvalCpu(MxArray[] inputs, MxArray[] outputs)
    {
        var x = inputs[0];
        long byteOffset = x.Offset * x.ItemSize;
        if (byteOffset % outputs[0].ItemSize != 0)
        {
            // The shared bytes do not start on an element of the new type: reinterpret a fresh copy.
            x = Cast.Materialize(x, x.DType);
            byteOffset = 0;
        }
        outputs[0].SetData(x.Buffer, MxArray.RowMajorStrides(outputs[0].ShapeRef), byteOffset / outputs[0].ItemSize);
    }
}
